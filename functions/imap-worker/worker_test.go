package imapworker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is imap-worker behind the adapter on SQLite, with a clock.
type fixture struct {
	t   *testing.T
	st  *store.SQL
	h   http.Handler
	now time.Time
	uid string
}

func newFixture(t *testing.T) *fixture {
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{t: t, st: st, now: t0}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := Build(func(string) string { return "" }, Deps{Store: st, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.h = fnhttp.New(fnhttp.Config{Function: "imap-worker"}, contract.Caliopen(), core, log)
	u, err := st.CreateUser(context.Background(), store.User{Name: "bob", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	f.uid = u.ID
	return f
}

// send posts order for identity id and returns the status and code.
func (f *fixture) send(order, id string) (int, string) {
	body, _ := json.Marshal(contract.RemoteOrder{Order: order, RemoteID: id, UserID: f.uid})
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Nats-Subject", contract.SubjectIMAPWorker)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec.Code, rec.Header().Get("Nats-Service-Error-Code")
}

// must posts order and fails the test unless it succeeds.
func (f *fixture) must(order, id string) {
	f.t.Helper()
	if status, code := f.send(order, id); status != http.StatusOK {
		f.t.Fatalf("%s: status %d code %q", order, status, code)
	}
}

// state returns the identity and its next run (zero without schedule).
func (f *fixture) state(id string) (store.Identity, time.Time) {
	f.t.Helper()
	i, err := f.st.GetIdentity(context.Background(), f.uid, id)
	if err != nil {
		f.t.Fatal(err)
	}
	next, _ := f.st.GetSchedule(context.Background(), f.uid, id)
	return i, next
}

func TestWorkerLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id, err := f.st.CreateIdentity(ctx, store.Identity{UserID: f.uid, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "bob@r.example", Status: store.Inactive})
	if err != nil {
		t.Fatal(err)
	}
	f.must(contract.OrderAddWorker, id.ID)
	if i, next := f.state(id.ID); i.Status != store.Active || !next.Equal(t0) {
		t.Fatalf("after add: status %s next %v", i.Status, next)
	}
	// The scheduler ran it; a redelivered add changes nothing.
	if err := f.st.SetNextRun(ctx, f.uid, id.ID, t0.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.now = t0.Add(time.Minute)
	f.must(contract.OrderAddWorker, id.ID)
	if _, next := f.state(id.ID); !next.Equal(t0.Add(15 * time.Minute)) {
		t.Errorf("redelivered add moved the run to %v", next)
	}
	// Failures, then reload: errors cleared, sync now.
	for range 3 {
		if _, err := f.st.RecordSyncError(ctx, f.uid, id.ID, "login failed", f.now); err != nil {
			t.Fatal(err)
		}
	}
	f.must(contract.OrderReloadWorker, id.ID)
	if i, next := f.state(id.ID); i.Sync.ErrorCount != 0 || i.Sync.LastError != "" || !next.Equal(f.now) {
		t.Errorf("after reload: sync %+v next %v", i.Sync, next)
	}
	f.must(contract.OrderRemoveWorker, id.ID)
	f.must(contract.OrderRemoveWorker, id.ID)
	if i, next := f.state(id.ID); i.Status != store.Inactive || !next.IsZero() {
		t.Errorf("after remove: status %s next %v", i.Status, next)
	}
	f.must(contract.OrderReloadWorker, id.ID) // stopped: no schedule
	if _, next := f.state(id.ID); !next.IsZero() {
		t.Errorf("reload of a stopped worker scheduled it at %v", next)
	}
	f.now = t0.Add(time.Hour)
	f.must(contract.OrderAddWorker, id.ID) // restart
	if i, next := f.state(id.ID); i.Status != store.Active || !next.Equal(f.now) {
		t.Errorf("after re-add: status %s next %v", i.Status, next)
	}
}

func TestWorkerErrors(t *testing.T) {
	f := newFixture(t)
	tw, err := f.st.CreateIdentity(context.Background(), store.Identity{UserID: f.uid, Type: store.RemoteIdentity,
		Protocol: store.ProtocolTwitter, Identifier: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ order, id, code string }{
		{contract.OrderAddWorker, "nope", "unknown_identity"},
		{contract.OrderReloadWorker, "nope", "unknown_identity"},
		{contract.OrderAddWorker, tw.ID, "not_imap_identity"},
		{contract.OrderRemoveWorker, tw.ID, "not_imap_identity"},
	} {
		if status, code := f.send(tc.order, tc.id); status < 400 || status >= 500 || code != tc.code {
			t.Errorf("%s %s: status %d code %q, want 4xx %s", tc.order, tc.id, status, code, tc.code)
		}
	}
	f.must(contract.OrderRemoveWorker, "nope")
}
