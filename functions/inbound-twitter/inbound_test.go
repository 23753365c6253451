package inboundtwitter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	inboundtwitter "github.com/caliopen/functions/functions/inbound-twitter"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xapi"
	"github.com/caliopen/functions/internal/xinbound"
)

// env is the function behind the shared adapter, on SQLite and a blob
// directory; alice's twitter account is @alice (id 100).
type env struct {
	t     *testing.T
	st    *store.SQL
	blobs *dirblob.Store
	h     http.Handler
	user  string
	ident string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolTwitter,
		Identifier: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	core, err := inboundtwitter.Build(func(string) string { return "" }, inboundtwitter.Deps{Store: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: inboundtwitter.Name}, contract.Caliopen(), core, slog.New(slog.DiscardHandler))
	return &env{t: t, st: st, blobs: blobs, h: h, user: u.ID, ident: id.ID}
}

// put stores raw content-addressed, as twitter-dm does, and returns its id.
func (e *env) put(raw []byte) string {
	e.t.Helper()
	id := store.RawID(raw)
	if err := e.blobs.Put(context.Background(), store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) putDoc(doc xapi.EventDoc) string {
	b, _ := json.Marshal(doc)
	return e.put(b)
}

// call sends process_inbound as the connector does; the reply must fit the
// contract.
func (e *env) call(rawID, identity, user string) (int, string, contract.InboundReply) {
	e.t.Helper()
	body, _ := json.Marshal(contract.DeliverOrder{MessageID: rawID, Order: "process_inbound", RemoteID: identity, UserID: user})
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(fnhttp.HeaderSubject, contract.SubjectInboundTwitter)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var reply contract.InboundReply
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatalf("reply %q: %v", w.Body.String(), err)
	}
	if failed, err := contract.CheckReply(contract.ReplyInbound, w.Body.Bytes()); err != nil || failed != (w.Code >= 300) {
		e.t.Fatalf("reply %q (status %d) does not fit the contract: failed=%v %v", w.Body.String(), w.Code, failed, err)
	}
	return w.Code, w.Header().Get("Nats-Service-Error-Code"), reply
}

var (
	alice = xapi.User{ID: "100", Username: "alice", Name: "Alice"}
	bob   = xapi.User{ID: "200", Username: "Bob", Name: "Bob B."}
	carol = xapi.User{ID: "300", Username: "carol", Name: "Carol"}
)

func dm(id, sender, conv, text string, users ...xapi.User) xapi.EventDoc {
	return xapi.EventDoc{Data: xapi.Event{ID: id, EventType: xapi.MessageCreate, Text: text, SenderID: sender,
		DMConversationID: conv, CreatedAt: "2026-03-01T12:00:00.000Z"}, Includes: xapi.Includes{Users: users}}
}

func TestDirectMessages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bobContact, err := e.st.CreateContact(ctx, store.Contact{UserID: e.user, Title: "Bob",
		Identities: []store.SocialIdentity{{Type: "twitter", Name: "bob"}}})
	if err != nil {
		t.Fatal(err)
	}
	doc := dm("1001", "200", "100-200", "hello alice", bob, alice)
	doc.Data.Attachments = &xapi.Attachments{MediaKeys: []string{"3_9"}}
	doc.Includes.Media = []xapi.Media{{MediaKey: "3_9", Type: "photo", URL: "https://pbs.example/9.jpg"}}
	first := e.putDoc(doc)
	code, _, r1 := e.call(first, e.ident, e.user)
	if code != 200 || r1.Message != contract.InboundStored || r1.MessageID == "" || r1.DiscussionID == "" {
		t.Fatalf("first: %d %+v", code, r1)
	}
	m, err := e.st.GetMessage(ctx, e.user, r1.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != "twitter" || m.BodyPlain != "hello alice" || m.External.MessageID != "1001" || !m.IsReceived ||
		!m.IsUnread || m.Date.IsZero() || m.RawMsgID != first {
		t.Errorf("message %+v", m)
	}
	from := m.Participants[0]
	if from.Type != "From" || from.Address != "bob" || from.ID != "200" || from.Label != "Bob B." ||
		len(from.ContactIDs) != 1 || from.ContactIDs[0] != bobContact.ID {
		t.Errorf("sender %+v", from)
	}
	if len(m.Participants) != 2 || m.Participants[1].Address != "alice" || m.Participants[1].ID != "100" {
		t.Errorf("participants %+v", m.Participants)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].URL != "https://pbs.example/9.jpg" || m.Attachments[0].FileName != "3_9" ||
		m.Attachments[0].ContentType != "image/jpeg" {
		t.Errorf("attachments %+v", m.Attachments)
	}
	raw, err := e.st.GetRaw(ctx, first)
	if err != nil || raw.BlobKey != store.RawKey(first) {
		t.Errorf("raw record %+v %v", raw, err)
	}
	// The same event again (redelivered), and fetched again with other
	// includes: duplicates, pointing at the stored message.
	for _, id := range []string{first, e.putDoc(dm("1001", "200", "100-200", "hello alice", bob))} {
		code, _, r := e.call(id, e.ident, e.user)
		if code != 200 || r.Message != contract.InboundDuplicate || r.MessageID != r1.MessageID {
			t.Errorf("duplicate: %d %+v", code, r)
		}
	}
	// Alice's answer from another client: same discussion, read, not received.
	code, _, r2 := e.call(e.putDoc(dm("1002", "100", "100-200", "hi bob", alice, bob)), e.ident, e.user)
	m2, _ := e.st.GetMessage(ctx, e.user, r2.MessageID)
	if code != 200 || r2.DiscussionID != r1.DiscussionID || m2.IsReceived || m2.IsUnread {
		t.Errorf("own message: %d %+v %+v", code, r2, m2)
	}
	// A group conversation is its own discussion.
	_, _, r3 := e.call(e.putDoc(dm("1003", "300", "555", "hi group", carol, bob, alice)), e.ident, e.user)
	m3, _ := e.st.GetMessage(ctx, e.user, r3.MessageID)
	if r3.DiscussionID == r1.DiscussionID || len(m3.Participants) != 3 {
		t.Errorf("group: %+v participants %+v", r3, m3.Participants)
	}
	notes, _, err := e.st.ListNotifications(ctx, e.user, store.Page{})
	if err != nil || len(notes) != 3 {
		t.Errorf("%d notifications, want 3 (%v)", len(notes), err)
	}
}

func TestBadOrders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mail, err := e.st.CreateIdentity(ctx, store.Identity{UserID: e.user, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	good := e.putDoc(dm("1001", "200", "100-200", "x", bob))
	deep := e.put([]byte(strings.Repeat("[", 40) + strings.Repeat("]", 40)))
	big := e.put([]byte(`{"data":{"text":"` + strings.Repeat("a", int(inboundtwitter.DefaultMaxRawBytes)) + `"}}`))
	join := e.putDoc(xapi.EventDoc{Data: xapi.Event{ID: "5", EventType: xapi.ParticipantsJoin, DMConversationID: "9"}})
	for _, tc := range []struct {
		name, raw, ident, user, code string
	}{
		{"unknown raw", strings.Repeat("ab", 32), e.ident, e.user, contract.CodeRawNotFound},
		{"too deep", deep, e.ident, e.user, contract.CodeBadEvent},
		{"too large", big, e.ident, e.user, contract.CodeRawTooLarge},
		{"not JSON", e.put([]byte("hello")), e.ident, e.user, contract.CodeBadEvent},
		{"not a message", join, e.ident, e.user, contract.CodeBadEvent},
		{"unknown identity", good, "nope", e.user, contract.CodeUnknownIdentity},
		{"other user", good, e.ident, "someone", contract.CodeUnknownIdentity},
		{"e-mail identity", good, mail.ID, e.user, contract.CodeBadIdentity},
	} {
		code, errCode, reply := e.call(tc.raw, tc.ident, tc.user)
		if code != http.StatusUnprocessableEntity || errCode != tc.code || reply.Error == "" {
			t.Errorf("%s: %d %q %+v, want 422 %s", tc.name, code, errCode, reply, tc.code)
		}
	}
	if n, _, _ := e.st.ListMessages(ctx, e.user, store.MessageFilter{}, store.Page{}); len(n) != 0 {
		t.Errorf("bad orders stored %d messages", len(n))
	}
}

func FuzzParse(f *testing.F) {
	b, _ := json.Marshal(dm("1", "2", "1-2", "x", alice))
	f.Add(b)
	f.Add([]byte(`{"data":{"event_type":"MessageCreate","id":"1","sender_id":"2","dm_conversation_id":"1-2"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		doc, err := xinbound.Parse(raw)
		if err == nil && (doc.Data.EventType != xapi.MessageCreate || !xapi.IsID(doc.Data.ID)) {
			t.Errorf("accepted %q", raw)
		}
	})
}

func TestParseDepth(t *testing.T) {
	inString := dm("1", "2", "1-2", strings.Repeat("[{", 40)+`\"]}`+strings.Repeat("]", 3))
	b, _ := json.Marshal(inString)
	if _, err := xinbound.Parse(b); err != nil {
		t.Errorf("brackets inside the text refused: %v", err)
	}
	deep := `{"data":{"id":"1","event_type":"MessageCreate","sender_id":"2","dm_conversation_id":"1-2","x":` +
		strings.Repeat("[", xinbound.MaxDepth) + strings.Repeat("]", xinbound.MaxDepth) + `}}`
	if _, err := xinbound.Parse([]byte(deep)); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("a document nested %d deep accepted: %v", xinbound.MaxDepth+2, err)
	}
}
