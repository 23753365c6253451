package imapfetch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/store/storetest"
)

// harness is imap-fetch on SQLite, a blob directory, a keyring and
// embedded NATS, with a stream capturing IMAPfetcher and identitiesWorker
// (so follow-ups are acknowledged and can be read back) and a responder on
// inboundSMTP that records process_inbound orders.
type harness struct {
	t     *testing.T
	st    *store.SQL
	blobs *dirblob.Store
	dir   string // the blob directory
	ring  *secrets.Keyring
	js    jetstream.JetStream
	f     *fetcher
	ident store.Identity
	now   time.Time
	mu    sync.Mutex
	seen  map[string]int  // raw id → process_inbound orders
	done  map[string]bool // raw ids answered as stored (later: duplicate)
	// fail decides, per raw id and attempt, to answer an error.
	fail func(rawID string, attempt int) bool
	logs *bytes.Buffer
	// protocol of the identity account creates; default e-mail.
	protocol string
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st := storetest.SQLite(t)
	blobs, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ring, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: bytes.Repeat([]byte{7}, secrets.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS",
		Subjects: []string{contract.SubjectIMAPFetcher, contract.SubjectIdentitiesWorker}}); err != nil {
		t.Fatal(err)
	}
	em, err := emit.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, blobs: blobs, dir: filepath.Join(dir, "blobs"), ring: ring, js: js, seen: map[string]int{}, done: map[string]bool{}, logs: &bytes.Buffer{},
		now: time.Now().UTC()}
	if _, err := nc.Subscribe(contract.SubjectInboundSMTP, h.respond); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: h.logs}, nil))
	h.f, err = newFetcher(cfg, Deps{Store: st, Blobs: blobs, Keyring: ring, Emitter: em, Logger: logger,
		Now: func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// respond answers process_inbound like inbound-email (stored, then
// duplicate for a raw id answered before), or fails as h.fail says.
func (h *harness) respond(m *nats.Msg) {
	var o contract.DeliverOrder
	if err := json.Unmarshal(m.Data, &o); err != nil || o.Order != contract.OrderProcessInbound {
		_ = m.Respond([]byte(`{"error":"invalid_json","message":"bad order"}`))
		return
	}
	h.mu.Lock()
	h.seen[o.MessageID]++
	n := h.seen[o.MessageID]
	fail := h.fail != nil && h.fail(o.MessageID, n)
	rep := contract.InboundReply{Message: contract.InboundStored, MessageID: "m-" + o.MessageID[:12], DiscussionID: "d1"}
	switch {
	case fail:
		rep = contract.InboundReply{Error: "store_unavailable", Message: "try later"}
	case h.done[o.MessageID]:
		rep.Message = contract.InboundDuplicate
	default:
		h.done[o.MessageID] = true
	}
	h.mu.Unlock()
	b, _ := json.Marshal(rep)
	_ = m.Respond(b)
}

// account creates user alice with a remote identity on addr.
func (h *harness) account(addr, user, pass string) store.Identity {
	h.t.Helper()
	ctx := context.Background()
	u, err := h.st.CreateUser(ctx, store.User{Name: "alice", PasswordHash: "x"})
	if err != nil {
		h.t.Fatal(err)
	}
	id := "0b4c6a5e-0000-4000-8000-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)
	creds, _ := json.Marshal(map[string]string{"inusername": user, "inpassword": pass})
	sealed, err := h.ring.Seal(creds, []byte(id))
	if err != nil {
		h.t.Fatal(err)
	}
	h.ident, err = h.st.CreateIdentity(ctx, store.Identity{ID: id, UserID: u.ID, Type: store.RemoteIdentity,
		Protocol: cmp.Or(h.protocol, store.ProtocolEmail), Identifier: user + "@remote.test", PollInterval: 15 * time.Minute,
		Infos: map[string]string{"inserver": addr, "intls": "none"}, Credentials: sealed})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.ident
}

// invoke runs one order through the core, as the adapter would.
func (h *harness) invoke(ctx context.Context, order string) (fnhttp.Result, error) {
	h.t.Helper()
	o := &contract.RemoteOrder{Order: order, RemoteID: h.ident.ID, UserID: h.ident.UserID}
	s, _ := contract.Caliopen().Subject(contract.SubjectIMAPFetcher)
	call := &fnhttp.Call{Function: "imap-fetch", Request: &contract.Request{Subject: s, Payload: o},
		Logger: h.f.deps.Logger, Attempt: 1}
	return h.f.core(ctx, call)
}

// drain runs sync orders until the chain of follow-ups ends, and returns
// the number of invocations.
func (h *harness) drain(order string) int {
	h.t.Helper()
	before := h.published(contract.SubjectIMAPFetcher)
	n := 0
	for {
		n++
		res, err := h.invoke(context.Background(), order)
		if err != nil {
			h.t.Fatalf("invocation %d: %v", n, err)
		}
		after := h.published(contract.SubjectIMAPFetcher)
		if len(after) == len(before) {
			return n
		}
		if !strings.Contains(res.Message, "more to come") {
			h.t.Fatalf("a follow-up without more to come: %s", res.Message)
		}
		before, order = after, contract.OrderSync
		if n > 1000 {
			h.t.Fatal("no end to the follow-ups")
		}
	}
}

// published returns the orders the stream holds on subject.
func (h *harness) published(subject string) []string {
	h.t.Helper()
	ctx := context.Background()
	s, err := h.js.Stream(ctx, "ORDERS")
	if err != nil {
		h.t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	var out []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err == nil && m.Subject == subject {
			out = append(out, string(m.Data))
		}
	}
	return out
}

// identity re-reads the identity.
func (h *harness) identity() store.Identity {
	h.t.Helper()
	i, err := h.st.GetIdentity(context.Background(), h.ident.UserID, h.ident.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return i
}

// processed returns how many distinct raw ids were processed, and the
// most orders one raw id got.
func (h *harness) processed() (distinct, most int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.processedLocked()
}

// raws counts the raw message blobs stored.
func (h *harness) raws() int {
	h.t.Helper()
	n := 0
	_ = filepath.WalkDir(filepath.Join(h.dir, "raw"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// lockedWriter serialises log writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// message is test mail number i of a series, about size bytes.
func message(series string, i, size int) []byte {
	line := fmt.Sprintf("line %d of message %d of %s\r\n", i, i, series)
	body := strings.Repeat(line, size/len(line)+1)
	return []byte(fmt.Sprintf("From: Bob <bob@remote.test>\r\nTo: alice@remote.test\r\nSubject: %s %d\r\n"+
		"Message-ID: <%s-%d@remote.test>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n%s",
		series, i, series, i, body[:size]))
}

// processedLocked is processed for callers holding h.mu (h.fail).
func (h *harness) processedLocked() (distinct, most int) {
	for _, n := range h.seen {
		most = max(most, n)
	}
	return len(h.seen), most
}

// rawIDOf is the raw id imap-fetch gives the bytes.
func rawIDOf(raw []byte) string { return store.RawID(raw) }

// setFail replaces h.fail.
func (h *harness) setFail(f func(rawID string, attempt int) bool) {
	h.mu.Lock()
	h.fail = f
	h.mu.Unlock()
}

// reordered returns how many raw ids got more than one process_inbound
// order.
func (h *harness) reordered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.seen {
		if c > 1 {
			n++
		}
	}
	return n
}

// orders returns how many process_inbound orders raw id got.
func (h *harness) orders(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[id]
}
