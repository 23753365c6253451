package inboundemail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// env is the function behind the shared HTTP adapter, on SQLite and a blob
// directory, with one user owning alice@example.test.
type env struct {
	t     *testing.T
	st    *store.SQL
	blobs *dirblob.Store
	h     http.Handler
	user  string
	ident string
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the function's environment variables.
func newEnvWith(t *testing.T, vars map[string]string) *env {
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
	id, err := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity, Protocol: store.ProtocolEmail,
		Identifier: "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return vars[k] }
	core, err := inboundemail.Build(getenv, inboundemail.Deps{Store: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: inboundemail.Name}, contract.Caliopen(), core, slog.New(slog.DiscardHandler))
	return &env{t: t, st: st, blobs: blobs, h: h, user: u.ID, ident: id.ID}
}

// putRaw stores raw as raw message id.
func (e *env) putRaw(id string, raw []byte) {
	e.t.Helper()
	ctx := context.Background()
	key := "raw/" + id
	if err := e.blobs.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.PutRaw(ctx, store.RawMessage{ID: id, BlobKey: key, Size: int64(len(raw))}); err != nil {
		e.t.Fatal(err)
	}
}

// call sends process_inbound as the connector does and decodes the reply.
func (e *env) call(rawID, identity string) (int, contract.InboundReply, map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(contract.DeliverOrder{MessageID: rawID, Order: "process_inbound", RemoteID: identity, UserID: e.user})
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(fnhttp.HeaderSubject, contract.SubjectInboundSMTP)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var reply contract.InboundReply
	var keys map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil {
		e.t.Fatalf("reply %q: %v", w.Body.String(), err)
	}
	_ = json.Unmarshal(w.Body.Bytes(), &keys)
	if failed, err := contract.CheckReply(contract.ReplyInbound, w.Body.Bytes()); err != nil || failed != (w.Code >= 300) {
		e.t.Fatalf("reply %q (status %d) does not fit the contract: failed=%v %v", w.Body.String(), w.Code, failed, err)
	}
	return w.Code, reply, keys
}

// TestCorpus processes every test mail (ours and enmime's) and checks each
// gets a success reply with a message and a discussion.
func TestCorpus(t *testing.T) {
	e := newEnv(t)
	var files []string
	for _, dir := range []string{"own", "corpus"} {
		got, err := filepath.Glob(filepath.Join("..", "..", "internal", "inbound", "testdata", dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, got...)
	}
	n := 0
	for i, name := range files {
		if strings.HasSuffix(name, ".enmime") {
			continue
		}
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("corpus%03d", i)
		e.putRaw(id, raw)
		code, reply, _ := e.call(id, e.ident)
		if code != http.StatusOK || reply.Error != "" || reply.MessageID == "" || reply.DiscussionID == "" {
			t.Errorf("%s: status %d reply %+v", filepath.Base(name), code, reply)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d mails in the corpus", n)
	}
}

func TestReplies(t *testing.T) {
	e := newEnv(t)
	e.putRaw("r1", []byte("From: bob@example.org\r\nTo: alice@example.test\r\nMessage-ID: <m1@example.org>\r\n\r\nhi\r\n"))
	code, first, keys := e.call("r1", e.ident)
	if code != 200 || first.Message != contract.InboundStored || keys["error"] != nil {
		t.Fatalf("first: %d %+v", code, first)
	}
	code, again, _ := e.call("r1", e.ident)
	if code != 200 || again.MessageID != first.MessageID || again.DiscussionID != first.DiscussionID ||
		again.Message != contract.InboundDuplicate {
		t.Fatalf("redelivery: %d %+v", code, again)
	}
	tests := []struct {
		name, raw, ident, code string
		status                 int
	}{
		{"unknown raw", "nope", e.ident, contract.CodeRawNotFound, 422},
		{"unknown identity", "r1", "nope", contract.CodeUnknownIdentity, 422},
	}
	for _, tt := range tests {
		code, reply, _ := e.call(tt.raw, tt.ident)
		if code != tt.status || reply.Error != tt.code || reply.Message == "" {
			t.Errorf("%s: %d %+v", tt.name, code, reply)
		}
	}
	// Mail fetched from a remote account names the remote identity (as
	// imap-fetch does); a Twitter identity is refused.
	for _, rc := range []struct {
		protocol string
		status   int
	}{{"imap", 200}, {store.ProtocolEmail, 200}, {store.ProtocolTwitter, 422}} {
		rid, err := e.st.CreateIdentity(context.Background(), store.Identity{UserID: e.user, Type: store.RemoteIdentity,
			Protocol: rc.protocol, Identifier: "alice-" + rc.protocol + "@remote.example"})
		if err != nil {
			t.Fatal(err)
		}
		raw := "rr-" + rc.protocol
		e.putRaw(raw, []byte("From: carol@example.org\r\nTo: alice-"+rc.protocol+"@remote.example\r\nMessage-ID: <"+raw+"@example.org>\r\n\r\nhi\r\n"))
		if code, reply, _ := e.call(raw, rid.ID); code != rc.status {
			t.Errorf("remote %s identity: %d %+v, want %d", rc.protocol, code, reply, rc.status)
		}
	}
	// The record exists but its bytes are gone.
	if _, err := e.st.PutRaw(context.Background(), store.RawMessage{ID: "r2", BlobKey: "raw/r2", Size: 3}); err != nil {
		t.Fatal(err)
	}
	if code, reply, _ := e.call("r2", e.ident); code != 422 || reply.Error != contract.CodeRawMissing {
		t.Errorf("missing blob: %d %+v", code, reply)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{inboundemail.EnvMaxRawBytes: "-3"}
	if _, err := inboundemail.LoadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("negative size accepted")
	}
	env[inboundemail.EnvMaxRawBytes] = "1000"
	cfg, err := inboundemail.LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.MaxRawBytes != 1000 {
		t.Errorf("%+v %v", cfg, err)
	}
}

// TestNotifications: mail for a local identity (the SMTP listener) is
// notified with the message; mail a remote identity fetched is not, as
// imap-fetch notifies once a batch.
func TestNotifications(t *testing.T) {
	e := newEnv(t)
	rid, err := e.st.CreateIdentity(context.Background(), store.Identity{UserID: e.user, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@remote.example"})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		ns, _, err := e.st.ListNotifications(context.Background(), e.user, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(ns)
	}
	e.putRaw("local-1", []byte("From: bob@example.org\r\nTo: alice@example.test\r\nMessage-ID: <local-1@example.org>\r\n\r\nhi\r\n"))
	if code, reply, _ := e.call("local-1", e.ident); code != 200 || count() != 1 {
		t.Fatalf("local identity: %d %+v, %d notifications, want 1", code, reply, count())
	}
	e.putRaw("remote-1", []byte("From: bob@example.org\r\nTo: alice@remote.example\r\nMessage-ID: <remote-1@example.org>\r\n\r\nhi\r\n"))
	if code, reply, _ := e.call("remote-1", rid.ID); code != 200 || reply.Message != contract.InboundStored || count() != 1 {
		t.Errorf("remote identity: %d %+v, %d notifications, want still 1", code, reply, count())
	}
}

// A content-addressed raw message (imap-fetch's) is read under the key its
// id names and recorded with the message. Refused, it is recorded alone, so
// that its bytes stay known to the store.
func TestRawRecordedWithTheMessage(t *testing.T) {
	e := newEnvWith(t, map[string]string{inboundemail.EnvMaxRawBytes: "200"})
	ctx := context.Background()
	fetched := func(body string) (string, []byte) {
		raw := []byte("From: bob@example.org\r\nTo: alice@example.test\r\nSubject: fetched\r\n\r\n" + body + "\r\n")
		id := store.RawID(raw)
		if err := e.blobs.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Fatal(err)
		}
		return id, raw
	}
	id, raw := fetched("hi")
	code, reply, _ := e.call(id, e.ident)
	if code != 200 || reply.Message != contract.InboundStored {
		t.Fatalf("fetched raw message: %d %+v", code, reply)
	}
	r, err := e.st.GetRaw(ctx, id)
	if err != nil || r.BlobKey != store.RawKey(id) || r.Size != int64(len(raw)) {
		t.Errorf("raw record %+v, %v, want its key and size", r, err)
	}
	if m, err := e.st.GetMessage(ctx, e.user, reply.MessageID); err != nil || m.RawMsgID != id {
		t.Errorf("message %+v, %v, want raw %s", m, err, id)
	}

	// One recorded under another key (the layout before "raw/<id>") is
	// read through its record, which keeps its key.
	old := []byte("From: bob@example.org\r\nTo: alice@example.test\r\nSubject: before\r\n\r\nhi\r\n")
	oldID := store.RawID(old)
	oldKey := "raw/" + oldID[:2] + "/" + oldID
	if err := e.blobs.Put(ctx, oldKey, bytes.NewReader(old), int64(len(old))); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.PutRaw(ctx, store.RawMessage{ID: oldID, BlobKey: oldKey, Size: int64(len(old))}); err != nil {
		t.Fatal(err)
	}
	if code, reply, _ := e.call(oldID, e.ident); code != 200 || reply.Message != contract.InboundStored {
		t.Errorf("raw message under its record's key: %d %+v", code, reply)
	}
	if r, err := e.st.GetRaw(ctx, oldID); err != nil || r.BlobKey != oldKey {
		t.Errorf("raw record %+v, %v, want its key kept", r, err)
	}

	tests := []struct {
		name, body, ident, code string
	}{
		{"too large", strings.Repeat("x", 300), e.ident, contract.CodeRawTooLarge},
		{"unknown identity", "for nobody", "no-such-identity", contract.CodeUnknownIdentity},
	}
	for _, tt := range tests {
		id, raw := fetched(tt.body)
		if code, reply, _ := e.call(id, tt.ident); code != 422 || reply.Error != tt.code {
			t.Errorf("%s: %d %+v, want 422 %s", tt.name, code, reply, tt.code)
		}
		if r, err := e.st.GetRaw(ctx, id); err != nil || r.BlobKey != store.RawKey(id) || r.Size != int64(len(raw)) {
			t.Errorf("%s: refused raw message's record %+v, %v, want it kept", tt.name, r, err)
		}
	}
}

// TestNestingBombRejected: a message whose multiparts nest past the
// parser's limit is refused for good (422 mime_rejected), before it is
// parsed; its raw record is kept, and nothing is stored for the user.
func TestNestingBombRejected(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	raw, err := os.ReadFile("../../internal/inbound/testdata/hostile/nesting-bomb-25.eml")
	if err != nil {
		t.Fatal(err)
	}
	id := store.RawID(raw)
	if err := e.blobs.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	code, reply, _ := e.call(id, e.ident)
	if code != 422 || reply.Error != contract.CodeMIMERejected {
		t.Fatalf("nesting bomb: %d %+v, want 422 %s", code, reply, contract.CodeMIMERejected)
	}
	if _, err := e.st.GetRaw(ctx, id); err != nil {
		t.Errorf("refused raw message's record: %v, want it kept", err)
	}
	if ms, _, err := e.st.ListMessages(ctx, e.user, store.MessageFilter{}, store.Page{Limit: 10}); err != nil || len(ms) != 0 {
		t.Errorf("%d messages stored (%v), want none", len(ms), err)
	}
}
