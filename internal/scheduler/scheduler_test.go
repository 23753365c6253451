package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

func TestTickSendsDueAndReschedules(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	c := &clock{now: t0}
	mail := seed(t, st, "m", store.ProtocolEmail, 1, 0, t0)[0]
	tw := seed(t, st, "t", store.ProtocolTwitter, 1, 0, t0)[0]
	own := seed(t, st, "o", "imap", 1, 7*time.Minute, t0)[0]
	later := seed(t, st, "l", store.ProtocolEmail, 1, 0, t0.Add(time.Minute))[0]
	smtp := seed(t, st, "s", "smtp", 1, 0, t0)[0]
	rec := &recorder{}
	s := newScheduler(t, st, rec, c)
	got := tick(t, s)
	if got.Sent != 3 || got.Skipped != 1 || got.Failed+got.Spread+got.Lost != 0 {
		t.Fatalf("stats %+v", got)
	}
	want := map[string]string{mail.ID: contract.SubjectIMAPFetcher, tw.ID: contract.SubjectTwitterDM,
		own.ID: contract.SubjectIMAPFetcher}
	for _, o := range rec.take() {
		if want[o.order.RemoteID] != o.subject || o.order.Order != "sync" || o.order.UserID == "" {
			t.Errorf("sent %+v", o)
		}
		delete(want, o.order.RemoteID)
	}
	if len(want) != 0 {
		t.Errorf("not sent: %v", want)
	}
	for _, tc := range []struct {
		id    store.Identity
		every time.Duration
	}{{mail, 15 * time.Minute}, {tw, 2 * time.Minute}, {own, 7 * time.Minute}, {smtp, 15 * time.Minute}} {
		d := nextRun(t, st, tc.id).Sub(t0)
		if lo, hi := tc.every*9/10, tc.every*11/10; d < lo || d > hi {
			t.Errorf("%s: next run +%s, want within [%s, %s]", tc.id.Protocol, d, lo, hi)
		}
	}
	if got := tick(t, s); got != (Stats{}) {
		t.Errorf("second tick at the same time: %+v", got)
	}
	c.advance(time.Minute)
	if got := tick(t, s); got.Sent != 1 || rec.take()[0].order.RemoteID != later.ID {
		t.Errorf("tick at +1m: %+v", got)
	}
}

func TestIntervalChangeAppliesAtNextRun(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	c := &clock{now: t0}
	id := seed(t, st, "m", store.ProtocolEmail, 1, 0, t0)[0]
	s := newScheduler(t, st, &recorder{}, c)
	tick(t, s)
	ctx := context.Background()
	if err := st.SetPollInterval(ctx, id.UserID, id.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.SetNextRun(ctx, id.UserID, id.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	if got := tick(t, s); got.Sent != 1 {
		t.Fatalf("stats %+v", got)
	}
	if d := nextRun(t, st, id).Sub(c.Now()); d < 54*time.Minute || d > 66*time.Minute {
		t.Errorf("next run +%s after interval 1h", d)
	}
}

// TestRestartSpreadsBacklog plays a scheduler that was down for an hour
// with 1,500 overdue identities: nothing fires at once and the backlog is
// sent over the spread window, each identity once.
func TestRestartSpreadsBacklog(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	c := &clock{now: t0}
	const n = 1500
	seed(t, st, "m", store.ProtocolEmail, n, 0, t0.Add(-time.Hour))
	rec := &recorder{}
	s := newScheduler(t, st, rec, c)
	first := tick(t, s)
	if first.Sent > 20 || first.Spread < min(n, s.cfg.MaxPerTick)-20 {
		t.Fatalf("first tick after restart: %+v", first)
	}
	seen := map[string]int{}
	maxPerTick := 0
	for range int(s.cfg.Policy.Spread/time.Second) + 2 {
		c.advance(time.Second)
		tick(t, s)
		got := rec.take()
		maxPerTick = max(maxPerTick, len(got))
		for _, o := range got {
			seen[o.order.RemoteID]++
		}
	}
	syncedOnce(t, seen, n)
	if limit := 3 * n / int(s.cfg.Policy.Spread/time.Second); maxPerTick > limit {
		t.Errorf("burst of %d orders in one tick, want at most %d", maxPerTick, limit)
	}
	t.Logf("backlog of %d spread over %s, at most %d a tick", n, s.cfg.Policy.Spread, maxPerTick)
}

// TestTwoReplicasDoNotDouble runs two schedulers, each with its own
// connection pool on one database file, ticking at the same time.
func TestTwoReplicasDoNotDouble(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st1, st2 := openStore(t, dir), openStore(t, dir)
	c := &clock{now: t0}
	const n = 500
	seed(t, st1, "m", store.ProtocolEmail, n, 0, t0)
	rec := &recorder{}
	a, b := newScheduler(t, st1, rec, c), newScheduler(t, st2, rec, c)
	var wg sync.WaitGroup
	var sa, sb Stats
	wg.Add(2)
	go func() { defer wg.Done(); sa = tick(t, a) }()
	go func() { defer wg.Done(); sb = tick(t, b) }()
	wg.Wait()
	count := map[string]int{}
	for _, o := range rec.take() {
		count[o.order.RemoteID]++
	}
	if len(count) != n || sa.Sent+sb.Sent != n {
		t.Errorf("%d identities synced, %d+%d sends; want %d", len(count), sa.Sent, sb.Sent, n)
	}
	for id, k := range count {
		if k != 1 {
			t.Errorf("identity %s synced %d times", id, k)
		}
	}
	t.Logf("replica a sent %d (lost %d), b sent %d (lost %d)", sa.Sent, sa.Lost, sb.Sent, sb.Lost)
}

func TestFailedSendIsRetried(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	c := &clock{now: t0}
	id := seed(t, st, "m", store.ProtocolEmail, 1, 0, t0)[0]
	rec := &recorder{fail: true}
	s := newScheduler(t, st, rec, c)
	if got := tick(t, s); got.Failed != 1 {
		t.Fatalf("stats %+v", got)
	}
	if got := nextRun(t, st, id); !got.Equal(t0.Add(s.cfg.RetryDelay)) {
		t.Errorf("retry at %v, want +%s", got, s.cfg.RetryDelay)
	}
	rec.fail = false
	c.advance(s.cfg.RetryDelay)
	if got := tick(t, s); got.Sent != 1 {
		t.Errorf("retry tick: %+v", got)
	}
}

// brokenClaims is a store whose claims all fail.
type brokenClaims struct{ Store }

func (brokenClaims) ClaimDue(context.Context, time.Time, int, func(int, store.Due) time.Time) ([]store.Claim, []bool, error) {
	return nil, nil, errors.New("disk full")
}

func TestFailingClaimsFailTheTick(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	c := &clock{now: t0}
	seed(t, st, "m", store.ProtocolEmail, 3, 0, t0)
	ids := seed(t, st, "n", store.ProtocolEmail, 1, 0, t0)
	rec := &recorder{}
	got, err := newScheduler(t, brokenClaims{st}, rec, c).Tick(context.Background())
	if err == nil || got.Sent != 0 || len(rec.take()) != 0 {
		t.Errorf("stats %+v, error %v; want a failed tick that sent nothing", got, err)
	}
	if at := nextRun(t, st, ids[0]); !at.Equal(t0) {
		t.Errorf("next run %v after a failed claim, want it still due at %v", at, t0)
	}
}
