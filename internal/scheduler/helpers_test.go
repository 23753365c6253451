package scheduler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// sent is one order a recorder received.
type sent struct {
	subject string
	order   contract.RemoteOrder
}

// recorder is a Sender that records orders and fails while fail is set.
type recorder struct {
	mu   sync.Mutex
	got  []sent
	fail bool
}

func (r *recorder) Send(_ context.Context, subject string, o contract.RemoteOrder) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("no stream")
	}
	r.got = append(r.got, sent{subject, o})
	return nil
}

// take returns and forgets the orders recorded so far.
func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// openStore opens a SQLite store in dir.
func openStore(t testing.TB, dir string) *store.SQL {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// seed creates n remote identities of protocol for one new user, each
// scheduled at at, and returns them.
func seed(t testing.TB, st *store.SQL, name, protocol string, n int, poll time.Duration, at time.Time) []store.Identity {
	t.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.User{Name: name, PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.Identity, n)
	for i := range out {
		id, err := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: protocol,
			Identifier: fmt.Sprintf("%s%d@r.example", name, i), PollInterval: poll})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetNextRun(ctx, u.ID, id.ID, at); err != nil {
			t.Fatal(err)
		}
		out[i] = id
	}
	return out
}

// newScheduler returns a scheduler on st with a fake clock and a seeded
// random source.
func newScheduler(t testing.TB, st Store, snd Sender, c *clock) *Scheduler {
	t.Helper()
	return schedulerWith(t, DefaultConfig(), st, snd, c)
}

// schedulerWith is newScheduler with the configuration cfg.
func schedulerWith(t testing.TB, cfg Config, st Store, snd Sender, c *clock) *Scheduler {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	s, err := New(cfg, Deps{Store: st, Sender: snd, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Now: c.Now, Rand: r.Float64})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tick runs one tick and fails the test on its error.
func tick(t testing.TB, s *Scheduler) Stats {
	t.Helper()
	st, err := s.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// nextRun returns an identity's next run.
func nextRun(t testing.TB, st *store.SQL, id store.Identity) time.Time {
	t.Helper()
	at, err := st.GetSchedule(context.Background(), id.UserID, id.ID)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// syncedOnce fails the test unless the orders of seen (identity: orders)
// synced each of n identities exactly once.
func syncedOnce(t testing.TB, seen map[string]int, n int) {
	t.Helper()
	if len(seen) != n {
		t.Errorf("%d of %d identities synced", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("identity %s synced %d times", id, k)
		}
	}
}
