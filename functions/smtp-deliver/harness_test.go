package smtpdeliver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsembed/natstest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// harness is smtp-deliver behind the shared HTTP adapter, on a SQLite
// store, a blob directory, a keyring and an embedded NATS server where
// nothing serves inboundSMTP (inbound-email does not answer; the hosted
// recipients' path with inbound-email is tested in systest/listenertest),
// with user alice (local identity alice@caliopen.test) and user bob
// (local identity bob@caliopen.test).
type harness struct {
	t       *testing.T
	st      *store.SQL
	blobs   *dirblob.Store
	blobDir string
	ring    *secrets.Keyring
	d       *deliverer
	h       http.Handler
	alice   store.Identity
	bob     store.Identity
	logBuf  *bytes.Buffer
}

// testConfig is a configuration with relay addr (plain SMTP) and a
// short lease.
func testConfig(relay string) Config {
	cfg := DefaultConfig()
	cfg.Relay.Addr, cfg.Relay.TLS = relay, "none"
	cfg.SMTPTimeout, cfg.SendLease = 2*time.Second, 3*time.Second
	cfg.Guard = netguard.MustParseAllow("127.0.0.1") // the test's servers, allowed as an operator allows them
	return cfg
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, secrets.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	_, nc := natstest.Start(t)
	em, err := emit.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, blobs: blobs, blobDir: filepath.Join(dir, "blobs"), ring: ring, logBuf: &bytes.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: h.logBuf}, nil))
	if h.d, err = newDeliverer(cfg, Deps{Store: st, Blobs: blobs, Keyring: ring, Requester: em, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	h.h = fnhttp.New(fnhttp.Config{Function: "smtp-deliver"}, contract.Caliopen(), h.d.core, logger)
	h.alice = h.user("alice", "Alice")
	h.bob = h.user("bob", "Bob")
	return h
}

// user creates a user with a local identity name@caliopen.test.
func (h *harness) user(name, label string) store.Identity {
	h.t.Helper()
	ctx := context.Background()
	u, err := h.st.CreateUser(ctx, store.User{Name: name, PasswordHash: "x"})
	if err != nil {
		h.t.Fatal(err)
	}
	id, err := h.st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: name + "@caliopen.test", DisplayName: label})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// draft stores a draft of from's user to the recipients ("To:addr",
// "Cc:addr", "Bcc:addr", or a bare address for To).
func (h *harness) draft(from store.Identity, rcpts ...string) store.Message {
	h.t.Helper()
	ps := []store.Participant{{Type: "From", Address: from.Identifier, Label: from.DisplayName}}
	for _, r := range rcpts {
		typ, addr, ok := strings.Cut(r, ":")
		if !ok {
			typ, addr = "To", r
		}
		ps = append(ps, store.Participant{Type: typ, Address: addr, Protocol: store.ProtocolEmail})
	}
	m, err := h.st.CreateDraft(context.Background(), store.Message{UserID: from.UserID, IdentityIDs: []string{from.ID},
		Protocol: store.ProtocolEmail, Participants: ps, Subject: "Outbound test", BodyPlain: "Hello there.\n",
		BodyHTML: "<p>Hello there.</p>", External: store.ExternalRefs{InReplyTo: "parent@example.org",
			References: []string{"root@example.org", "parent@example.org"}}})
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// answer is the adapter's answer to one deliver.
type answer struct {
	status int
	code   string
	reply  contract.DeliverReply
}

// deliver posts a deliver order as the connector does.
func (h *harness) deliver(userID, messageID string) answer {
	h.t.Helper()
	body, _ := json.Marshal(contract.DeliverOrder{MessageID: messageID, Order: "deliver", RemoteID: "ignored", UserID: userID})
	return h.post(body)
}

// post sends a raw body.
func (h *harness) post(body []byte) answer {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Nats-Subject", contract.SubjectOutboundSMTP)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	var a answer
	a.status, a.code = rec.Code, rec.Header().Get("Nats-Service-Error-Code")
	if err := json.Unmarshal(rec.Body.Bytes(), &a.reply); err != nil {
		h.t.Fatalf("reply %q: %v", rec.Body.String(), err)
	}
	return a
}

// message reloads a message.
func (h *harness) message(userID, id string) store.Message {
	h.t.Helper()
	m, err := h.st.GetMessage(context.Background(), userID, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

// ok fails the test unless a is a success.
func (h *harness) ok(a answer) {
	h.t.Helper()
	if a.status != http.StatusOK || a.reply.Error {
		h.t.Fatalf("deliver: status %d code %q reply %+v", a.status, a.code, a.reply)
	}
}

// checkSent checks that m was recorded as sent with its copy.
func (h *harness) checkSent(m store.Message) {
	h.t.Helper()
	if m.IsDraft || m.SendState != store.SendSent || m.RawMsgID == "" || m.External.MessageID == "" {
		h.t.Fatalf("message after send: draft %v state %q raw %q message-id %q", m.IsDraft, m.SendState,
			m.RawMsgID, m.External.MessageID)
	}
	raw, err := h.st.GetRaw(context.Background(), m.RawMsgID)
	if err != nil || !raw.Delivered {
		h.t.Fatalf("raw message %s: %+v %v", m.RawMsgID, raw, err)
	}
	if _, err := h.blobs.Stat(context.Background(), raw.BlobKey); err != nil {
		h.t.Fatalf("sent copy blob: %v", err)
	}
}

// sentCopies counts the sent copies in the blob store.
func (h *harness) sentCopies() int { return h.blobCount("sent") }

// blobCount counts the blobs under a folder of the blob store.
func (h *harness) blobCount(folder string) int {
	h.t.Helper()
	entries, err := os.ReadDir(filepath.Join(h.blobDir, folder))
	if err != nil && !os.IsNotExist(err) {
		h.t.Fatal(err)
	}
	return len(entries)
}

// lockedWriter serialises writes to a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
