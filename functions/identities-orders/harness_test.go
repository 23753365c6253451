package identitiesorders

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// harness is identities-orders behind the shared HTTP adapter on a SQLite
// store, with a clock the test moves.
type harness struct {
	t    *testing.T
	st   *store.SQL
	h    http.Handler
	user store.User
	mu   sync.Mutex
	now  time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h := &harness{t: t, st: st, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := New(DefaultConfig(), Deps{Store: st, Now: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	h.h = fnhttp.New(fnhttp.Config{Function: "identities-orders"}, contract.Caliopen(), core, logger)
	if h.user, err = st.CreateUser(context.Background(), store.User{Name: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

// identity creates an identity of alice.
func (h *harness) identity(typ store.IdentityType, protocol, identifier string, st store.IdentityStatus) store.Identity {
	h.t.Helper()
	id, err := h.st.CreateIdentity(context.Background(), store.Identity{UserID: h.user.ID, Type: typ,
		Protocol: protocol, Identifier: identifier, Status: st, PollInterval: 15 * time.Minute})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// answer is the adapter's answer to one order.
type answer struct {
	status int
	code   string
	reply  fnhttp.PubSubReply
}

// order posts an order as the connector does.
func (h *harness) order(o contract.IdentityOrder) answer {
	h.t.Helper()
	if o.UserID == "" {
		o.UserID = h.user.ID
	}
	body, _ := json.Marshal(o)
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Nats-Subject", contract.SubjectIdentitiesWorker)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, code: rec.Header().Get("Nats-Service-Error-Code")}
	if err := json.Unmarshal(rec.Body.Bytes(), &a.reply); err != nil {
		h.t.Fatalf("reply %q: %v", rec.Body.String(), err)
	}
	return a
}

// ok fails the test unless a is a success.
func (h *harness) ok(a answer) {
	h.t.Helper()
	if a.status != http.StatusOK || !a.reply.OK {
		h.t.Fatalf("order: status %d code %q reply %+v", a.status, a.code, a.reply)
	}
}

// next returns the identity's next run, or the zero time without a
// schedule.
func (h *harness) next(id store.Identity) time.Time {
	h.t.Helper()
	at, err := h.st.GetSchedule(context.Background(), id.UserID, id.ID)
	if err != nil {
		return time.Time{}
	}
	return at
}
