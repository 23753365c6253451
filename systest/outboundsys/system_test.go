package outboundsys_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/system/systemtest"
)

func start(t *testing.T, relay string) *systemtest.System {
	t.Helper()
	return startWith(t, systemtest.Options{RelayAddr: relay})
}

// startWith starts a system with o (its Dir set here) for the test.
func startWith(t *testing.T, o systemtest.Options) *systemtest.System {
	t.Helper()
	o.Dir = t.TempDir()
	if o.Env == nil {
		o.Env = map[string]string{}
	}
	if _, ok := o.Env[netguard.EnvAllow]; !ok {
		o.Env[netguard.EnvAllow] = "127.0.0.1" // the test's peers, allowed as an operator allows an address
	}
	sys, err := systemtest.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Error(err)
		}
	})
	return sys
}

func TestAPISendThroughPostfixToSink(t *testing.T) {
	sink := outboundtest.SMTPSink(t)
	sys := start(t, outboundtest.PostfixRelay(t, sink.Addr))
	ctx := context.Background()
	alice, err := sys.NewUser(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := sys.NewUser(ctx, "bob", "bob-password")
	if err != nil {
		t.Fatal(err)
	}
	id, err := alice.Draft(ctx, "", []string{"friend@example.org", "bob@" + systemtest.LocalDomain}, "Through the API", "Hi!")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.Send(ctx, id)
	if err != nil || msg != "message "+id+" has been sent." {
		t.Fatalf("send: %q %v", msg, err)
	}
	if code, err := alice.Do(ctx, http.MethodPost, "/messages/"+id+"/actions",
		map[string]any{"actions": []string{"send"}}, nil); code != http.StatusConflict {
		t.Errorf("second send through the API: %d %v, want 409", code, err)
	}
	var sent struct {
		MessageID string `json:"external_message_id"`
		IsDraft   bool   `json:"is_draft"`
	}
	if _, err := alice.Do(ctx, http.MethodGet, "/messages/"+id, nil, &sent); err != nil || sent.IsDraft || sent.MessageID == "" {
		t.Fatalf("sent message: %+v %v", sent, err)
	}
	// A retried order straight on NATS (a requester that timed out) sends nothing.
	order, _ := json.Marshal(contract.DeliverOrder{MessageID: id, Order: "deliver", RemoteID: "any",
		UserID: userOf(t, sys, "alice")})
	if rep, err := sys.NC.Request(contract.SubjectOutboundSMTP, order, 10*time.Second); err != nil ||
		!strings.Contains(string(rep.Data), `"error":false`) {
		t.Fatalf("retried deliver: %v %s", err, rep.Data)
	}
	var dumps []outboundtest.Dumped
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && len(dumps) == 0; time.Sleep(50 * time.Millisecond) {
		dumps = sink.Find(t, sent.MessageID)
	}
	time.Sleep(time.Second)
	if dumps = sink.Find(t, sent.MessageID); len(dumps) != 1 || strings.Join(dumps[0].Rcpts, ",") != "friend@example.org" {
		t.Fatalf("sink has %d copies (%+v), want 1 for friend@example.org only", len(dumps), dumps)
	}
	var inbox struct {
		Messages []struct {
			Subject   string `json:"subject"`
			MessageID string `json:"external_message_id"`
		} `json:"messages"`
	}
	if _, err := bob.Do(ctx, http.MethodGet, "/messages", nil, &inbox); err != nil {
		t.Fatal(err)
	}
	if len(inbox.Messages) != 1 || inbox.Messages[0].MessageID != sent.MessageID {
		t.Fatalf("bob's messages: %+v", inbox)
	}
}

func TestAPISendRemoteIdentityCopiesToDovecotSent(t *testing.T) {
	dv := outboundtest.DovecotIMAP(t)
	smtpSrv := outboundtest.StartFakeSMTP(t)
	smtpSrv.RequireAuth("alice.remote", "smtp-pass")
	relay := outboundtest.StartFakeSMTP(t)
	sys := start(t, relay.Addr)
	ctx := context.Background()
	alice, identID := aliceRemote(t, sys, smtpSrv.Addr, dv, "")
	subject := "Remote " + time.Now().Format(time.RFC3339Nano)
	id, err := alice.Draft(ctx, identID, []string{"friend@example.org"}, subject, "Via my own server.")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.Send(ctx, id)
	if err != nil || strings.Contains(msg, "failed") {
		t.Fatalf("send: %q %v", msg, err)
	}
	order, _ := json.Marshal(contract.DeliverOrder{MessageID: id, Order: "deliver", RemoteID: identID,
		UserID: userOf(t, sys, "alice")})
	if rep, err := sys.NC.Request(contract.SubjectOutboundIMAP, order, 10*time.Second); err != nil ||
		!strings.Contains(string(rep.Data), `"error":false`) || strings.Contains(string(rep.Data), "failed") {
		t.Fatalf("retried deliver: %v %s", err, rep.Data)
	}
	if n := smtpSrv.Attempts(); n != 1 || relay.Attempts() != 0 {
		t.Errorf("remote server got %d messages, relay %d; want 1 and 0", n, relay.Attempts())
	}
	checkSentFolder(t, dv, subject)

	// A failed append leaves the mail sent and says so.
	id2, err := alice.Draft(ctx, identID, []string{"friend@example.org"}, subject+" 2", "Again.")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Do(ctx, http.MethodPatch, "/identities/remotes/"+identID, map[string]any{
		"credentials": map[string]string{"outusername": "alice.remote", "outpassword": "smtp-pass",
			"inusername": dv.User, "inpassword": "wrong"}}, nil); err != nil {
		t.Fatal(err)
	}
	msg, err = alice.Send(ctx, id2)
	if err != nil || !strings.Contains(msg, "has been sent") || !strings.Contains(msg, "Sent folder failed") ||
		strings.Contains(msg, "wrong") {
		t.Fatalf("send with a broken IMAP login: %q %v", msg, err)
	}
}

// checkSentFolder checks that the Sent folder holds one \Seen message
// with subject.
func checkSentFolder(t *testing.T, dv outboundtest.IMAP, subject string) {
	t.Helper()
	c, err := imapclient.DialInsecure(dv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Login(dv.User, dv.Pass).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	found, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := found.AllUIDs()
	if len(uids) != 1 {
		t.Fatalf("%d copies in Sent, want 1", len(uids))
	}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v", err)
	}
	seen := false
	for _, f := range msgs[0].Flags {
		seen = seen || f == imap.FlagSeen
	}
	if !seen {
		t.Errorf("copy flags %v, want \\Seen", msgs[0].Flags)
	}
}

// userOf returns the id of the user named name.
func userOf(t *testing.T, sys *systemtest.System, name string) string {
	t.Helper()
	u, err := sys.Store.GetUserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// An identity with authtype plain logs in with SASL PLAIN on both servers:
// imap-deliver reads the identity's settings as imap-fetch does (package
// mailconn), so its Sent copy lands too.
func TestAPISendPlainAuthCopiesToDovecotSent(t *testing.T) {
	dv := outboundtest.DovecotIMAP(t)
	smtpSrv := outboundtest.StartFakeSMTP(t)
	smtpSrv.RequireAuth("alice.remote", "smtp-pass")
	sys := start(t, outboundtest.StartFakeSMTP(t).Addr)
	ctx := context.Background()
	alice, identID := aliceRemote(t, sys, smtpSrv.Addr, dv, "plain")
	subject := "Plain " + time.Now().Format(time.RFC3339Nano)
	id, err := alice.Draft(ctx, identID, []string{"friend@example.org"}, subject, "Logged in with PLAIN.")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := alice.Send(ctx, id)
	if err != nil || !strings.Contains(msg, "has been sent") || strings.Contains(msg, "failed") {
		t.Fatalf("send: %q %v", msg, err)
	}
	if n := smtpSrv.Attempts(); n != 1 {
		t.Errorf("remote server got %d messages, want 1", n)
	}
	checkSentFolder(t, dv, subject)
}

// aliceRemote creates alice with a remote identity on the SMTP server at
// smtpAddr (user alice.remote, password smtp-pass) and Dovecot, with
// authtype ("" leaves the API's default).
func aliceRemote(t *testing.T, sys *systemtest.System, smtpAddr string, dv outboundtest.IMAP, authtype string) (alice *systemtest.Client, identID string) {
	t.Helper()
	ctx := context.Background()
	alice, err := sys.NewUser(ctx, "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	infos := map[string]string{"outserver": smtpAddr, "outtls": "none", "inserver": dv.Addr, "intls": "none"}
	if authtype != "" {
		infos["authtype"] = authtype
	}
	var ident struct {
		ID string `json:"identity_id"`
	}
	if _, err := alice.Do(ctx, http.MethodPost, "/identities/remotes", map[string]any{
		"protocol": "email", "identifier": "alice@remote.example", "display_name": "Alice Remote", "infos": infos,
		"credentials": map[string]string{"outusername": "alice.remote", "outpassword": "smtp-pass",
			"inusername": dv.User, "inpassword": dv.Pass},
	}, &ident); err != nil {
		t.Fatal(err)
	}
	return alice, ident.ID
}
