package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/store"
)

// Environment of the crashing helper process.
const (
	envCrashDir  = "CALIOPEN_TEST_CRASH_DIR"
	envCrashNATS = "CALIOPEN_TEST_CRASH_NATS"
)

// TestCrashBetweenCommitAndPublish runs the API in a helper process that
// creates a contact and is killed (SIGKILL) once the contact and its order
// are committed, before the order is published. A relay started afterwards
// publishes the order: it reaches the stream, once.
func TestCrashBetweenCommitAndPublish(t *testing.T) {
	dir := t.TempDir()
	p, err := startPlatform(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	ctx := t.Context()
	stream, err := p.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: pubSubSubjects,
		Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashNATS+"="+p.url)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var orderID string
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "committed "); ok {
			orderID = id
			break
		}
	}
	if orderID == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("the helper ended without committing: %v", cmd.Wait())
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("helper: %v, want killed", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("the stream holds %d orders before the relay runs, want none", info.State.Msgs)
	}

	st, em := p.st, p.emitter
	relay := outbox.New(outbox.Config{Grace: -1, Interval: 10 * time.Millisecond}, st, em, slog.New(slog.DiscardHandler))
	stop := relay.Start(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for info.State.Msgs == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if info, err = stream.Info(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("the order never reached the stream: %v", err)
	}
	var got contract.ContactOrder
	if err := json.Unmarshal(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	if m.Subject != contract.SubjectContactAction || got.Order != contract.OrderContactUpdate ||
		m.Header.Get(nats.MsgIdHdr) != orderID {
		t.Errorf("stream message: %s %s %v, want contact_update with Nats-Msg-Id %s", m.Subject, m.Data, m.Header, orderID)
	}
	want := golden(t, "contactAction.contact_update.apiv2.REST.CreateContact.json",
		map[string]string{"contact_id": got.ContactID, "user_id": got.UserID})
	if string(m.Data) != want {
		t.Errorf("order payload %s, want %s", m.Data, want)
	}
	if _, err := st.GetContact(ctx, got.UserID, got.ContactID); err != nil {
		t.Errorf("the contact of the order is not stored: %v", err)
	}
	// Published again (a relay that died before removing the row): still once.
	if err := em.PublishOrder(ctx, store.Order{ID: orderID, Subject: m.Subject, Data: m.Data}); err != nil {
		t.Fatal(err)
	}
	if info, err = stream.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("the stream holds %d orders (%v), want 1", info.State.Msgs, err)
	}
	if n, err := st.PendingOrders(ctx); err != nil || n != 0 {
		t.Errorf("outbox holds %d orders (%v), want none", n, err)
	}
}

// stallingEmitter stands for a process that stops between the commit and
// the publish: it says which order it was about to publish, then blocks
// until the process is killed.
type stallingEmitter struct{ *emit.Emitter }

func (stallingEmitter) PublishOrder(ctx context.Context, o store.Order) error {
	fmt.Printf("committed %s\n", o.ID)
	select {}
}

// TestCrashHelper is the process TestCrashBetweenCommitAndPublish kills.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("the helper process of TestCrashBetweenCommitAndPublish")
	}
	ctx := context.Background()
	p, err := openPlatform(dir, os.Getenv(envCrashNATS), true)
	if err != nil {
		t.Fatal(err)
	}
	st := p.st
	acc, err := accounts.New(accounts.Config{LocalDomain: "example.test", BcryptCost: bcrypt.MinCost}, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.CreateUser(ctx, accounts.NewUser{Name: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{LocalDomain: "example.test", BcryptCost: bcrypt.MinCost},
		api.Deps{Store: st, Blobs: p.blobs, Emitter: stallingEmitter{p.emitter}, Sealer: p.ring, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v2/authentications",
		strings.NewReader(`{"username":"alice","password":"alice-password"}`)))
	var login struct {
		Token string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &login); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest("POST", "/api/v2/contacts", strings.NewReader(`{"title":"Carol"}`))
	req.Header.Set("Authorization", "Bearer "+login.Token)
	h.ServeHTTP(httptest.NewRecorder(), req) // blocks in PublishOrder until killed
	t.Fatal("the contact was created without publishing its order")
}
