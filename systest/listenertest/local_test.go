package listenertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	smtpdeliver "github.com/caliopen/functions/functions/smtp-deliver"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

// deliverLease is smtp-deliver's send lease in these tests: a send left
// sending is taken again this long after it began.
const deliverLease = 1500 * time.Millisecond

// localStack is a stack that also serves smtp-deliver, whose hosted domain
// is the stack users' (example.test), without a relay; blobDir is where
// its blobs are.
func localStack(t *testing.T, wrap func(http.Handler) http.Handler) (s *systemtest.System, blobDir string) {
	t.Helper()
	dir := t.TempDir()
	s = startStackWith(t, systemtest.Options{Dir: dir, Listener: smtplistener.Config{}, Env: map[string]string{
		smtpdeliver.EnvLocalDomain: "example.test", smtpdeliver.EnvSMTPTimeout: "1s",
		smtpdeliver.EnvSendLease: deliverLease.String()}})
	if wrap != nil {
		s.Wrap(inboundemail.Name, wrap)
	}
	return s, filepath.Join(dir, "blobs")
}

// draft stores a draft of user from (identity fromIdent, address
// fromAddr) to the addresses to.
func draft(t *testing.T, s *systemtest.System, from, fromIdent, fromAddr string, to ...string) string {
	t.Helper()
	ps := []store.Participant{{Type: "From", Address: fromAddr, Label: "Alice", Protocol: store.ProtocolEmail}}
	for _, a := range to {
		ps = append(ps, store.Participant{Type: "To", Address: a, Protocol: store.ProtocolEmail})
	}
	m, err := s.Store.CreateDraft(context.Background(), store.Message{UserID: from, IdentityIDs: []string{fromIdent},
		Protocol: store.ProtocolEmail, Participants: ps, Subject: "Lunch?", BodyPlain: "At noon, downstairs.\n",
		BodyHTML: "<p>At noon, <b>downstairs</b>.</p>"})
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// deliverReply is smtp-deliver's answer through the connector.
type deliverReply struct {
	code  string // Nats-Service-Error-Code, "" on success
	reply contract.DeliverReply
}

// deliver sends a deliver order for message id of user on outboundSMTP,
// as the API does.
func deliver(t *testing.T, s *systemtest.System, user, id string) deliverReply {
	t.Helper()
	nc, err := s.ConnectAs(natsusers.Operator)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	order, _ := json.Marshal(contract.DeliverOrder{MessageID: id, Order: contract.OrderDeliver, RemoteID: "any", UserID: user})
	msg, err := nc.Request(contract.SubjectOutboundSMTP, order, 30*time.Second)
	if err != nil {
		t.Fatalf("deliver %s: %v", id, err)
	}
	var r deliverReply
	r.code = msg.Header.Get("Nats-Service-Error-Code")
	if err := json.Unmarshal(msg.Data, &r.reply); err != nil {
		t.Fatalf("deliver reply %q: %v", msg.Data, err)
	}
	return r
}

// sent fails the test unless r is a success.
func sent(t *testing.T, r deliverReply) {
	t.Helper()
	if r.code != "" || r.reply.Error {
		t.Fatalf("deliver: code %q reply %+v, want success", r.code, r.reply)
	}
}

// sendState is the send state of message id of user.
func sendState(t *testing.T, s *systemtest.System, user, id string) store.SendState {
	t.Helper()
	m, err := s.Store.GetMessage(context.Background(), user, id)
	if err != nil {
		t.Fatal(err)
	}
	return m.SendState
}

// notifications are the notifications of user.
func notifications(t *testing.T, s *systemtest.System, user string) []store.Notification {
	t.Helper()
	ns, _, err := s.Store.ListNotifications(context.Background(), user, store.Page{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// rawFiles are the raw messages' files in the blob directory.
func rawFiles(t *testing.T, blobDir string) []os.FileInfo {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(blobDir, strings.TrimSuffix(store.RawPrefix, "/")))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []os.FileInfo
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, info)
	}
	return out
}

// received is bob's one message in s, with its notification checked, and
// the id of bob's contact for Alice that it must name.
type received struct {
	msg     store.Message
	contact string
}

// receiver sets up a stack as both sides of the comparison do: users alice
// and bob, bob having Alice as a contact.
func receiver(t *testing.T, s *systemtest.System) (alice, aliceIdent, bob, contact string) {
	t.Helper()
	alice, aliceIdent = addUser(t, s, "alice")
	bob, _ = addUser(t, s, "bob")
	c, err := s.Store.CreateContact(context.Background(), store.Contact{UserID: bob, Title: "Alice",
		Emails: []store.ContactEmail{{Address: "alice@example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	return alice, aliceIdent, bob, c.ID
}

// bobsMessage returns bob's only message and checks its notification.
func bobsMessage(t *testing.T, s *systemtest.System, bob string) store.Message {
	t.Helper()
	ms := messages(t, s, bob)
	if len(ms) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(ms))
	}
	ns := notifications(t, s, bob)
	if len(ns) != 1 || ns[0].Type != inbound.NotificationType || ns[0].Reference != ms[0].ID {
		t.Errorf("bob's notifications %+v, want one new_message for %s", ns, ms[0].ID)
	}
	return ms[0]
}

// TestLocalMailIsInboundMail: a mail from alice to bob, both local, is
// stored for bob as the same mail received over SMTP by the listener is:
// the same message field by field (ids and arrival dates aside), in a
// discussion, its sender resolved to bob's contact, with its privacy
// features and index, and notified.
func TestLocalMailIsInboundMail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	local, _ := localStack(t, nil)
	alice, aliceIdent, bob, localContact := receiver(t, local)
	id := draft(t, local, alice, aliceIdent, "alice@example.test", "bob@example.test")
	sent(t, deliver(t, local, alice, id))
	if st := sendState(t, local, alice, id); st != store.SendSent {
		t.Fatalf("alice's message is %q, want sent", st)
	}
	got := received{msg: bobsMessage(t, local, bob), contact: localContact}

	// The same bytes, as alice's sent copy holds them, over SMTP.
	sentMsg, err := local.Store.GetMessage(ctx, alice, id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := local.Store.GetRaw(ctx, sentMsg.RawMsgID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := local.Blobs.Get(ctx, raw.BlobKey)
	if err != nil {
		t.Fatal(err)
	}
	copyBytes, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	remote := startStack(t, smtplistener.Config{}, false)
	_, _, rbob, remoteContact := receiver(t, remote)
	c, err := smtp.Dial(remote.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("alice@example.test", []string{"bob@example.test"}, strings.NewReader(string(copyBytes))); err != nil {
		t.Fatalf("over SMTP: %v", err)
	}
	want := received{msg: bobsMessage(t, remote, rbob), contact: remoteContact}

	for name, r := range map[string]received{"local": got, "smtp": want} {
		m := r.msg
		if m.DiscussionID == "" || !m.IsReceived || !m.IsUnread || m.IsDraft {
			t.Errorf("%s: discussion %q received %v unread %v draft %v", name, m.DiscussionID, m.IsReceived, m.IsUnread, m.IsDraft)
		}
		if from := m.Participants[0]; from.Type != "From" || !reflect.DeepEqual(from.ContactIDs, []string{r.contact}) {
			t.Errorf("%s: sender %+v, want bob's contact %s", name, from, r.contact)
		}
		if m.PI.Comportment != 10 || m.PI.Context != 10 || m.Features[inbound.FeatureHops] != "1" {
			t.Errorf("%s: privacy index %+v features %v, want the known sender's comportment and one hop", name, m.PI, m.Features)
		}
	}
	if g, w := comparable(got), comparable(want); !reflect.DeepEqual(g, w) {
		t.Errorf("bob's message differs by path:\nlocal %+v\nsmtp  %+v", g, w)
	}
}

// comparable is r's message without what differs between two stores (ids)
// or two arrivals (dates): its sender's contact is checked apart.
func comparable(r received) store.Message {
	m := r.msg
	m.ID, m.UserID, m.DiscussionID, m.IdentityIDs, m.RawMsgID = "", "", "", nil, ""
	m.DateInsert, m.DateSort, m.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
	var ps []store.Participant
	for _, p := range m.Participants {
		if len(p.ContactIDs) == 1 && p.ContactIDs[0] == r.contact {
			p.ContactIDs = []string{"<bob's contact for Alice>"}
		}
		ps = append(ps, p)
	}
	m.Participants = ps
	return m
}

// loseFirstReply answers 503 for the first process_inbound of user after
// the real function stored the mail: a reply lost on the way.
type loseFirstReply struct {
	mu   sync.Mutex
	user string
	lost bool
}

func (l *loseFirstReply) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		var o contract.DeliverOrder
		_ = json.Unmarshal(body, &o)
		l.mu.Lock()
		lose := !l.lost && l.user != "" && o.UserID == l.user
		l.lost = l.lost || lose
		l.mu.Unlock()
		if !lose {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		http.Error(w, fmt.Sprintf("reply lost (the function answered %d)", rec.Code), http.StatusServiceUnavailable)
	})
}

// TestLocalMailRetryStoresOnce: carol's reply is lost after inbound-email
// stored her mail, so the send is temporary and the draft stays sending;
// the retry after the lease finishes it without storing the raw message
// again (the same file) nor any message twice, and a deliver of the sent
// message changes nothing.
func TestLocalMailRetryStoresOnce(t *testing.T) {
	fault := &loseFirstReply{}
	s, blobDir := localStack(t, fault.wrap)
	alice, aliceIdent := addUser(t, s, "alice")
	bob, _ := addUser(t, s, "bob")
	carol, _ := addUser(t, s, "carol")
	fault.mu.Lock()
	fault.user = carol
	fault.mu.Unlock()
	id := draft(t, s, alice, aliceIdent, "alice@example.test", "bob@example.test", "carol@example.test")
	if r := deliver(t, s, alice, id); r.code != "local_delivery_failed" || !r.reply.Error {
		t.Fatalf("with carol's reply lost: %+v, want local_delivery_failed", r)
	}
	if st := sendState(t, s, alice, id); st != store.SendSending {
		t.Fatalf("after the lost reply alice's message is %q, want sending", st)
	}
	first := rawFiles(t, blobDir)
	if len(first) != 1 {
		t.Fatalf("%d raw messages, want 1", len(first))
	}
	for _, u := range []string{bob, carol} {
		if n := len(messages(t, s, u)); n != 1 {
			t.Fatalf("before the retry a recipient has %d messages, want 1", n)
		}
	}
	time.Sleep(deliverLease + 100*time.Millisecond)
	for range 2 {
		sent(t, deliver(t, s, alice, id))
	}
	if st := sendState(t, s, alice, id); st != store.SendSent {
		t.Errorf("after the retry alice's message is %q, want sent", st)
	}
	after := rawFiles(t, blobDir)
	if len(after) != 1 || !os.SameFile(first[0], after[0]) {
		t.Errorf("raw messages after the retries: %d, the first one rewritten: %v", len(after),
			len(after) == 1 && !os.SameFile(first[0], after[0]))
	}
	for name, u := range map[string]string{"bob": bob, "carol": carol} {
		ms := messages(t, s, u)
		if len(ms) != 1 || len(notifications(t, s, u)) != 1 || ms[0].MessageIDReused {
			t.Errorf("%s has %d messages (%+v) and %d notifications, want 1 and 1", name, len(ms), ms,
				len(notifications(t, s, u)))
		}
	}
}

// TestLocalMailUnknownHostedAddress: an address of the hosted domain that
// no user has fails the send permanently with unknown_recipient, and
// nothing is stored for anyone.
func TestLocalMailUnknownHostedAddress(t *testing.T) {
	t.Parallel()
	s, blobDir := localStack(t, nil)
	alice, aliceIdent := addUser(t, s, "alice")
	bob, _ := addUser(t, s, "bob")
	id := draft(t, s, alice, aliceIdent, "alice@example.test", "bob@example.test", "nobody@example.test")
	r := deliver(t, s, alice, id)
	if r.code != "unknown_recipient" || !r.reply.Error || !strings.Contains(r.reply.Message, "nobody@example.test") {
		t.Fatalf("unknown hosted address: %+v, want unknown_recipient naming it", r)
	}
	if st := sendState(t, s, alice, id); st != store.SendFailed {
		t.Errorf("alice's draft is %q, want failed", st)
	}
	if n := len(messages(t, s, bob)); n != 0 {
		t.Errorf("bob has %d messages, want none", n)
	}
	if n := len(rawFiles(t, blobDir)); n != 0 {
		t.Errorf("%d raw messages stored, want none", n)
	}
}

// TestLocalMailInboundDown: with inbound-email not answering, the send is
// temporary (the draft stays sending, bob has nothing yet); once it
// answers again, the retry after the lease delivers the mail, once.
func TestLocalMailInboundDown(t *testing.T) {
	s, _ := localStack(t, nil)
	alice, aliceIdent := addUser(t, s, "alice")
	bob, _ := addUser(t, s, "bob")
	id := draft(t, s, alice, aliceIdent, "alice@example.test", "bob@example.test")
	s.StopFunction(inboundemail.Name)
	if r := deliver(t, s, alice, id); r.code != "local_delivery_failed" || !r.reply.Error {
		t.Fatalf("inbound-email down: %+v, want local_delivery_failed", r)
	}
	if st := sendState(t, s, alice, id); st != store.SendSending {
		t.Errorf("alice's message is %q, want sending", st)
	}
	if n := len(messages(t, s, bob)); n != 0 {
		t.Fatalf("bob has %d messages while inbound-email is down", n)
	}
	if r := deliver(t, s, alice, id); r.code != "send_in_progress" {
		t.Errorf("retry under the lease: %+v, want send_in_progress", r)
	}
	s.StartFunction(inboundemail.Name)
	time.Sleep(deliverLease + 100*time.Millisecond)
	sent(t, deliver(t, s, alice, id))
	if st := sendState(t, s, alice, id); st != store.SendSent {
		t.Errorf("after the retry alice's message is %q, want sent", st)
	}
	m := bobsMessage(t, s, bob)
	if m.Subject != "Lunch?" || m.DiscussionID == "" {
		t.Errorf("bob's message: subject %q discussion %q", m.Subject, m.DiscussionID)
	}
}

// refuseFor answers process_inbound for user with a permanent refusal,
// mime_rejected, in the function's reply shape; the other users' orders go
// to the real function. Real mail over the parser's limits would be refused
// so, but a draft cannot be made into such a mail.
func refuseFor(user *atomic.Value) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			var o contract.DeliverOrder
			if json.Unmarshal(body, &o) != nil || o.UserID != user.Load() {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Nats-Service-Error-Code", "mime_rejected")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte(`{"error":"mime_rejected","message":"the MIME structure is over the parser's limits"}`))
		})
	}
}

// TestLocalMailRefused: a hosted recipient refusing the mail for good fails
// the send permanently with inbound-email's code, naming the recipient. The
// draft is marked failed when nobody got the mail, sent when another
// recipient did.
func TestLocalMailRefused(t *testing.T) {
	t.Parallel()
	var refused atomic.Value
	s, _ := localStack(t, refuseFor(&refused))
	alice, aliceIdent := addUser(t, s, "alice")
	bob, _ := addUser(t, s, "bob")
	carol, _ := addUser(t, s, "carol")
	refused.Store(carol)
	for _, c := range []struct {
		to    []string
		state store.SendState
		bob   int
	}{
		{[]string{"carol@example.test"}, store.SendFailed, 0},
		{[]string{"bob@example.test", "carol@example.test"}, store.SendSent, 1},
	} {
		id := draft(t, s, alice, aliceIdent, "alice@example.test", c.to...)
		r := deliver(t, s, alice, id)
		if r.code != "mime_rejected" || !r.reply.Error || !strings.Contains(r.reply.Message, "carol@example.test") {
			t.Errorf("%v: %+v, want mime_rejected naming carol", c.to, r)
		}
		if st := sendState(t, s, alice, id); st != c.state {
			t.Errorf("%v: alice's message is %q, want %q", c.to, st, c.state)
		}
		if n := len(messages(t, s, bob)); n != c.bob {
			t.Errorf("%v: bob has %d messages, want %d", c.to, n, c.bob)
		}
	}
	if n := len(messages(t, s, carol)); n != 0 {
		t.Errorf("carol has %d messages, want none", n)
	}
}
