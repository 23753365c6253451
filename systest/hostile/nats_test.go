package hostile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

// natsSystem starts the whole system in a directory of the test's own.
func natsSystem(t *testing.T) (*systemtest.System, string) {
	t.Helper()
	dir := t.TempDir()
	sys, err := systemtest.Start(context.Background(), systemtest.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return sys, dir
}

// natsBuilt holds the binaries built for the package's tests, once each.
var natsBuilt struct {
	mu   sync.Mutex
	dir  string
	bins map[string]string
}

// natsBinary builds the module's command pkg (./cmd/NAME) once and returns
// its path.
func natsBinary(t *testing.T, pkg string) string {
	t.Helper()
	natsBuilt.mu.Lock()
	defer natsBuilt.mu.Unlock()
	if bin, ok := natsBuilt.bins[pkg]; ok {
		return bin
	}
	if natsBuilt.dir == "" {
		dir, err := os.MkdirTemp("", "caliopen-hostile-bin")
		if err != nil {
			t.Fatal(err)
		}
		natsBuilt.dir, natsBuilt.bins = dir, map[string]string{}
	}
	bin := filepath.Join(natsBuilt.dir, filepath.Base(pkg))
	build := exec.Command("go", "build", "-o", bin, "./"+pkg)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	natsBuilt.bins[pkg] = bin
	return bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if natsBuilt.dir != "" {
		os.RemoveAll(natsBuilt.dir)
	}
	os.Exit(code)
}

// natsRun runs bin with args and only the environment given (besides PATH
// and HOME), for a minute at most, and returns its output and error.
func natsRun(bin string, env map[string]string, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// natsIDs are a user's id and first local identity's id.
func natsIDs(t *testing.T, sys *systemtest.System, name string) (userID, identityID string) {
	t.Helper()
	ctx := context.Background()
	u, err := sys.Store.GetUserByName(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := sys.Store.ListIdentities(ctx, u.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil || len(ids) == 0 {
		t.Fatalf("identities of %s: %v %v", name, ids, err)
	}
	return u.ID, ids[0].ID
}

// natsEventually waits up to 20 s for cond.
func natsEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestNATSUnauthenticatedOrderRefused: the finding's exact command, `caliopen
// order outboundSMTP` with another user's ids, sends nothing without the
// operator's credentials: no credentials at all, a plain anonymous client,
// and a component's user (a compromised SMTP listener, which may publish
// inboundSMTP only) are all refused, and the draft stays a draft. The same
// command with the operator's password from the data directory does send
// it: the refusals come from authentication, not from the order.
func TestNATSUnauthenticatedOrderRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/caliopen and runs the whole system")
	}
	sys, dir := natsSystem(t)
	ctx := context.Background()
	bob, err := sys.NewUser(ctx, "bob", "bob-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.NewUser(ctx, "alice", "alice-password-1"); err != nil {
		t.Fatal(err)
	}
	draft, err := bob.Draft(ctx, "", []string{"alice@" + systemtest.LocalDomain}, "bob's secret draft", "not to be sent by anyone else")
	if err != nil {
		t.Fatal(err)
	}
	bobID, bobIdentity := natsIDs(t, sys, "bob")
	aliceID, _ := natsIDs(t, sys, "alice")
	order := fmt.Sprintf(`{"message_id":%q,"order":"deliver","remote_id":%q,"user_id":%q}`, draft, bobIdentity, bobID)
	cli := natsBinary(t, "cmd/caliopen")
	empty := t.TempDir()
	listenerPW, err := natsusers.ReadPassword(dir, natsusers.SMTPListener)
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no credentials", map[string]string{"CALIOPEN_DATA_DIR": empty}, "no NATS password for operator"},
		{"a guessed password", map[string]string{"NATS_USER": natsusers.Operator, "NATS_PASSWORD": "guess"}, "Authorization Violation"},
		{"another component's user", map[string]string{"NATS_USER": natsusers.SMTPListener, "NATS_PASSWORD": listenerPW,
			"NATS_INBOX_PREFIX": natsusers.InboxPrefixOf(natsusers.SMTPListener)}, "request on outboundSMTP"},
	} {
		tried++
		tc.env["CALIOPEN_CONFIG_DIR"] = t.TempDir()
		out, err := natsRun(cli, tc.env, "", "-nats", sys.NATSURL, "order", "outboundSMTP", order, "-timeout", "3s")
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: caliopen order = %v\n%s\nwant a refusal mentioning %q", tc.name, err, out, tc.want)
		}
	}
	// A NATS client of its own, without the CLI.
	tried++
	if nc, err := nats.Connect(sys.NATSURL, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("an anonymous NATS client was accepted")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("anonymous connection: %v, want an authorization violation", err)
	}
	m, err := sys.Store.GetMessage(ctx, bobID, draft)
	if err != nil || !m.IsDraft {
		t.Fatalf("bob's draft after %d refused attempts: draft=%v, %v (it was sent)", tried, m.IsDraft, err)
	}
	if n, err := sys.CountMessages(ctx, aliceID); err != nil || n != 0 {
		t.Errorf("alice holds %d messages (%v), want none", n, err)
	}
	// The operator, with the password the data directory holds.
	out, err := natsRun(cli, map[string]string{"CALIOPEN_CONFIG_DIR": t.TempDir()}, "", "-nats", sys.NATSURL, "-data", dir,
		"order", "outboundSMTP", order)
	if err != nil || !strings.Contains(out, `"error":false`) {
		t.Fatalf("the operator's caliopen order = %v\n%s", err, out)
	}
	natsEventually(t, "alice's copy", func() bool { n, _ := sys.CountMessages(ctx, aliceID); return n == 1 })
	t.Logf("%d unauthenticated sends tried, %d refused, the draft kept", tried, tried)
}

// TestNATSOriginalSMTPBridgeBytes: the original smtp-bridge's orders as it
// sent them are accepted and processed: process_raw with an empty
// identity (under the seed's key and under the original's), each stored
// for its recipient; deliver without any identity, the sender found from
// the draft.
func TestNATSOriginalSMTPBridgeBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	sys, _ := natsSystem(t)
	ctx := context.Background()
	alice, err := sys.NewUser(ctx, "alice", "alice-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.NewUser(ctx, "bob", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	aliceID, _ := natsIDs(t, sys, "alice")
	bobID, _ := natsIDs(t, sys, "bob")
	for i, tmpl := range []string{
		// processInbound's template (brokers/go.emails/inbound.go), its blank included.
		`{"order":"process_raw","user_id":"%s","identity_id":"","message_id": "%s"}`,
		`{"order":"process_raw","user_id":"%s","remote_id":"","message_id": "%s"}`,
	} {
		raw := []byte(fmt.Sprintf("From: carol@example.org\r\nTo: alice@%s\r\nSubject: through the bridge %d\r\n"+
			"Message-ID: <bridge-%d@example.org>\r\n\r\nHello Alice.\r\n", systemtest.LocalDomain, i, i))
		id := store.RawID(raw)
		if err := sys.Blobs.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Fatal(err)
		}
		rep, err := sys.NC.Request(contract.SubjectInboundSMTP, []byte(fmt.Sprintf(tmpl, aliceID, id)), 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		var r map[string]any
		if err := json.Unmarshal(rep.Data, &r); err != nil || r["error"] != nil || r["message_id"] == "" {
			t.Errorf("%s: reply %s (code %q), want the message stored", tmpl, rep.Data, rep.Header.Get(contract.HeaderServiceErrorCode))
		}
	}
	if n, err := sys.CountMessages(ctx, aliceID); err != nil || n != 2 {
		t.Errorf("alice holds %d messages (%v), want the 2 the bridge handed in", n, err)
	}
	draft, err := alice.Draft(ctx, "", []string{"bob@" + systemtest.LocalDomain}, "deliver without identity", "as apiv2 sent it")
	if err != nil {
		t.Fatal(err)
	}
	order := fmt.Sprintf(`{"message_id":%q,"order":"deliver","user_id":%q}`, draft, aliceID)
	rep, err := sys.NC.Request(contract.SubjectOutboundSMTP, []byte(order), 30*time.Second)
	if err != nil || !bytes.Contains(rep.Data, []byte(`"error":false`)) {
		t.Fatalf("deliver without remote_id: %v %s", err, rep.Data)
	}
	natsEventually(t, "bob's copy", func() bool { n, _ := sys.CountMessages(ctx, bobID); return n == 1 })
}

// TestNATSIDCacheOrdersNotLost: the original's identity orders on idCache
// (add and delete, its names) reach the same function as the seed's
// identitiesWorker and do their work (the identity's polling scheduled,
// then removed); an order it does not know is dead-lettered with its
// reason. None vanishes.
func TestNATSIDCacheOrdersNotLost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	sys, dir := natsSystem(t)
	ctx := context.Background()
	if _, err := sys.NewUser(ctx, "alice", "alice-password-1"); err != nil {
		t.Fatal(err)
	}
	aliceID, _ := natsIDs(t, sys, "alice")
	remote, err := sys.Store.CreateIdentity(ctx, store.Identity{UserID: aliceID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@remote.example", Status: store.Active, PollInterval: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	send := func(order string) {
		t.Helper()
		rep, err := sys.NC.Request(contract.SubjectIDCache, []byte(order), 10*time.Second)
		if err != nil || !bytes.Contains(rep.Data, []byte(`"stream"`)) {
			t.Fatalf("%s on idCache: %v %s, want JetStream's acknowledgement", order, err, rep.Data)
		}
	}
	scheduled := func() bool {
		_, err := sys.Store.GetSchedule(ctx, aliceID, remote.ID)
		return err == nil
	}
	// apiv2's CreateUserIdentity (RemoteIDNatsMessage).
	send(fmt.Sprintf(`{"identity_id":%q,"order":"add","order_param":"15","protocol":"email","user_id":%q}`, remote.ID, aliceID))
	natsEventually(t, "the identity's schedule", scheduled)
	// apiv2's DeleteUserIdentity, the IMAP and Twitter workers' delete.
	send(fmt.Sprintf(`{"identity_id":%q,"order":"delete","order_param":"","protocol":"email","user_id":%q}`, remote.ID, aliceID))
	natsEventually(t, "the schedule's removal", func() bool {
		_, err := sys.Store.GetSchedule(ctx, aliceID, remote.ID)
		return errors.Is(err, store.ErrNotFound)
	})
	send(fmt.Sprintf(`{"identity_id":%q,"order":"refresh","protocol":"email","user_id":%q}`, remote.ID, aliceID))
	// The operator reads it with caliopen dlq.
	out, err := natsRun(natsBinary(t, "cmd/caliopen"), map[string]string{"CALIOPEN_CONFIG_DIR": t.TempDir()}, "",
		"-nats", sys.NATSURL, "-data", dir, "-json", "dlq", "-subject", contract.SubjectIDCache, "-follow", "-count", "1", "-last", "1")
	var letter struct{ Code, Error, Order string }
	if err != nil || json.Unmarshal([]byte(out), &letter) != nil {
		t.Fatalf("caliopen dlq: %v\n%s", err, out)
	}
	if letter.Code != contract.CodeUnknownOrder || letter.Order != "refresh" || !strings.Contains(letter.Error, "refresh") {
		t.Errorf("dead letter %+v; want unknown_order naming the order", letter)
	}
}

// TestNATSRemoteIdentityOnHostedAddress: a user cannot add a remote
// account for an address of the hosted domain (another user's, or one
// no user has yet): the API refuses it with a clear error and stores
// nothing.
func TestNATSRemoteIdentityOnHostedAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	sys, _ := natsSystem(t)
	ctx := context.Background()
	mallory, err := sys.NewUser(ctx, "mallory", "mallory-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.NewUser(ctx, "bob", "bob-password-1"); err != nil {
		t.Fatal(err)
	}
	malloryID, _ := natsIDs(t, sys, "mallory")
	for _, addr := range []string{"bob@" + systemtest.LocalDomain, "Nobody@" + strings.ToUpper(systemtest.LocalDomain)} {
		for _, protocol := range []string{"email", "imap", "smtp"} {
			status, err := mallory.Do(ctx, http.MethodPost, "/identities/remotes", map[string]any{"protocol": protocol,
				"identifier": addr, "infos": map[string]string{"inserver": "127.0.0.1:993"}}, nil)
			if status != http.StatusBadRequest || err == nil || !strings.Contains(err.Error(), "hosted domain") {
				t.Errorf("remote %s identity %s: %d %v, want 400 naming the hosted domain", protocol, addr, status, err)
			}
		}
	}
	ids, err := sys.Store.ListIdentities(ctx, malloryID, store.IdentityFilter{Type: store.RemoteIdentity})
	if err != nil || len(ids) != 0 {
		t.Errorf("mallory's remote identities: %v, %v; want none", ids, err)
	}
}

// TestNATSAdminLock: caliopen-admin create-user refuses to write to the
// data directory of a running system, saying so, and writes once it stops.
func TestNATSAdminLock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/caliopen-admin and runs the whole system")
	}
	admin := natsBinary(t, "cmd/caliopen-admin")
	sys, dir := natsSystem(t)
	env := map[string]string{"API_BCRYPT_COST": "4", "CALIOPEN_LOCAL_DOMAIN": systemtest.LocalDomain}
	out, err := natsRun(admin, env, "eve-password-1\n", "create-user", "-name", "eve", "-data", dir)
	if err == nil || !strings.Contains(out, "the local system is running on "+dir) {
		t.Errorf("create-user on a running system = %v\n%s\nwant a refusal saying the system runs", err, out)
	}
	if _, err := sys.Store.GetUserByName(context.Background(), "eve"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("eve after the refusal: %v, want not found", err)
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := natsRun(admin, env, "eve-password-1\n", "create-user", "-name", "eve", "-data", dir); err != nil ||
		!strings.Contains(out, "created user eve") {
		t.Errorf("create-user on the stopped system = %v\n%s", err, out)
	}
}
