// Package scheduler_test runs the scheduler against the whole system: embedded
// NATS, the real connector and identities-orders.
package scheduler_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

// fnStub is an HTTP function that records the bodies it gets per subject.
type fnStub struct {
	mu     sync.Mutex
	bodies map[string][]string
	at     map[string]time.Time // first body per subject
}

func (f *fnStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	subj := r.Header.Get("X-Nats-Subject")
	f.mu.Lock()
	f.bodies[subj] = append(f.bodies[subj], string(b))
	if _, ok := f.at[subj]; !ok {
		f.at[subj] = time.Now()
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"message":"done"}`)
}

func (f *fnStub) get(subject string) ([]string, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies[subject]...), f.at[subject]
}

// system is the whole system (package systemtest) with a stub in place
// of imap-fetch and twitter-dm.
type system struct {
	*systemtest.System
	st   *store.SQL
	em   *emit.Emitter
	stub *fnStub
	log  *slog.Logger
}

func startSystem(t *testing.T) *system {
	t.Helper()
	s, err := systemtest.Start(context.Background(), systemtest.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	sys := &system{System: s, st: s.Store, em: s.Deps.Emitter, log: slog.New(slog.DiscardHandler),
		stub: &fnStub{bodies: map[string][]string{}, at: map[string]time.Time{}}}
	s.Intercept("imap-fetch", sys.stub)
	s.Intercept("twitter-dm", sys.stub)
	return sys
}

// runScheduler runs a scheduler ticking every 100 ms until stop is called.
func (sys *system) runScheduler(t *testing.T) (stop func()) {
	t.Helper()
	cfg := scheduler.DefaultConfig()
	cfg.Tick = 100 * time.Millisecond
	s, err := scheduler.New(cfg, scheduler.Deps{Store: sys.st, Sender: scheduler.NATSSender{Emitter: sys.em}, Logger: sys.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	return func() { cancel(); <-done }
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}

// TestFirstSyncOverNATS publishes add_identity for an e-mail and a Twitter
// identity through the real connector and checks that their sync orders
// reach imap-fetch and twitter-dm within 5 s with the seed's bytes; then
// that update_interval reschedules at once and a restart sends nothing
// that is not due.
func TestFirstSyncOverNATS(t *testing.T) {
	sys := startSystem(t)
	ctx := context.Background()
	stop := sys.runScheduler(t)
	u, err := sys.st.CreateUser(ctx, store.User{Name: "alice", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(protocol, identifier string) store.Identity {
		id, err := sys.st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.RemoteIdentity,
			Protocol: protocol, Identifier: identifier})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mail, tw := mk(store.ProtocolEmail, "a@r.example"), mk(store.ProtocolTwitter, "alice")
	start := time.Now()
	for _, id := range []store.Identity{mail, tw} {
		if err := sys.em.Publish(ctx, contract.SubjectIdentitiesWorker, contract.IdentityOrder{IdentityID: id.ID,
			Order: contract.OrderAddIdentity, UserID: u.ID}); err != nil {
			t.Fatal(err)
		}
	}
	for subject, id := range map[string]store.Identity{contract.SubjectIMAPFetcher: mail, contract.SubjectTwitterDM: tw} {
		waitFor(t, 5*time.Second, "sync on "+subject, func() bool { b, _ := sys.stub.get(subject); return len(b) > 0 })
		bodies, at := sys.stub.get(subject)
		want := `{"order":"sync","remote_id":"` + id.ID + `","user_id":"` + u.ID + `"}`
		if len(bodies) != 1 || bodies[0] != want {
			t.Errorf("%s got %q, want [%s]", subject, bodies, want)
		}
		t.Logf("first sync on %s %s after add_identity", subject, at.Sub(start).Round(time.Millisecond))
	}

	// update_interval applies at once.
	if err := sys.em.Publish(ctx, contract.SubjectIdentitiesWorker, contract.IdentityOrder{IdentityID: mail.ID,
		Order: contract.OrderUpdateInterval, PollIntervall: 90, Protocol: "email", UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "update_interval applied", func() bool {
		next, err := sys.st.GetSchedule(ctx, u.ID, mail.ID)
		d := time.Until(next)
		return err == nil && d > 85*time.Minute && d <= 90*time.Minute
	})

	// A restart sends nothing that is not due.
	stop()
	stop = sys.runScheduler(t)
	time.Sleep(500 * time.Millisecond)
	stop()
	for _, subject := range []string{contract.SubjectIMAPFetcher, contract.SubjectTwitterDM} {
		if b, _ := sys.stub.get(subject); len(b) != 1 {
			t.Errorf("%s after restart: %d orders", subject, len(b))
		}
	}
	var got contract.RemoteOrder
	b, _ := sys.stub.get(contract.SubjectIMAPFetcher)
	if err := json.Unmarshal([]byte(b[0]), &got); err != nil || got.Order != "sync" {
		t.Errorf("order %q: %v", b[0], err)
	}
}
