package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/store/storetest"
)

// boundedScheduler returns a scheduler on st that claims at most max runs
// a tick.
func boundedScheduler(t testing.TB, st Store, snd Sender, c *clock, max int) *Scheduler {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxPerTick, cfg.Batch = max, 100
	return schedulerWith(t, cfg, st, snd, c)
}

func TestCatchUpEstimate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, max int
		tick   time.Duration
		want   time.Duration
	}{
		{n: 0, max: 2000, tick: time.Second, want: 0},
		{n: 1, max: 2000, tick: time.Second, want: time.Second},
		{n: 2000, max: 2000, tick: time.Second, want: time.Second},
		{n: 2001, max: 2000, tick: time.Second, want: 2 * time.Second},
		{n: 98000, max: 2000, tick: time.Second, want: 49 * time.Second},
		{n: 1000, max: 100, tick: 5 * time.Second, want: 50 * time.Second},
	} {
		cfg := DefaultConfig()
		cfg.MaxPerTick, cfg.Tick = tc.max, tc.tick
		if got := cfg.CatchUp(tc.n); got != tc.want {
			t.Errorf("CatchUp(%d) at %d a tick of %s = %s, want %s", tc.n, tc.max, tc.tick, got, tc.want)
		}
	}
}

func TestMaxPerTickConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		want int
		bad  bool
	}{
		{env: "", want: 1000},
		{env: "150", want: 150},
		{env: "0", bad: true},
		{env: "many", bad: true},
	} {
		cfg, err := LoadConfig(func(k string) string {
			if k == EnvMaxPerTick {
				return tc.env
			}
			return ""
		})
		if (err != nil) != tc.bad {
			t.Errorf("%s=%q: error %v, want error %v", EnvMaxPerTick, tc.env, err, tc.bad)
			continue
		}
		if !tc.bad && cfg.MaxPerTick != tc.want {
			t.Errorf("%s=%q: %d, want %d", EnvMaxPerTick, tc.env, cfg.MaxPerTick, tc.want)
		}
	}
}

// TestTickBoundIsFair checks that a tick claims at most MaxPerTick runs,
// the most overdue ones, and reports the rest as its backlog.
func TestTickBoundIsFair(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ n, max int }{
		{n: 10, max: 50},
		{n: 50, max: 50},
		{n: 120, max: 50},
		{n: 120, max: 7},
	} {
		st := openStore(t, t.TempDir())
		c := &clock{now: t0}
		// identity i is due i minutes before the hour before t0: the
		// first ones seeded are the least overdue.
		var ids []store.Identity
		for i := range tc.n {
			ids = append(ids, seed(t, st, fmt.Sprintf("u%d", i), store.ProtocolEmail, 1, 0,
				t0.Add(-time.Hour-time.Duration(i)*time.Minute))...)
		}
		s := boundedScheduler(t, st, &recorder{}, c, tc.max)
		got := tick(t, s)
		handled := got.Sent + got.Spread
		if want := min(tc.n, tc.max); handled != want {
			t.Errorf("n=%d max=%d: handled %d, want %d (%+v)", tc.n, tc.max, handled, want, got)
		}
		if want := max(tc.n-tc.max, 0); got.Backlog != want || got.CatchUp != s.cfg.CatchUp(want) {
			t.Errorf("n=%d max=%d: backlog %d, catch-up %s; want %d, %s", tc.n, tc.max, got.Backlog, got.CatchUp,
				want, s.cfg.CatchUp(want))
		}
		// The most overdue (the last seeded) moved; the others did not.
		for i, id := range ids {
			moved := !nextRun(t, st, id).Equal(t0.Add(-time.Hour - time.Duration(i)*time.Minute))
			if wantMoved := i >= tc.n-tc.max; moved != wantMoved {
				t.Errorf("n=%d max=%d: identity %d (due %d min early) moved %v, want %v", tc.n, tc.max, i, 60+i,
					moved, wantMoved)
			}
		}
	}
}

func TestBacklogDrainsInPredictedTicksSQLite(t *testing.T) {
	t.Parallel()
	testBacklogDrains(t, storetest.SQLite(t))
}

func TestBacklogDrainsInPredictedTicksPostgres(t *testing.T) {
	t.Parallel()
	testBacklogDrains(t, storetest.Postgres(t))
}

// testBacklogDrains restarts a scheduler after an hour down with n
// identities overdue: the first tick reports the backlog and the predicted
// catch-up, no tick handles more than the bound, the backlog is claimed in
// the predicted number of ticks although the scheduler restarts in the
// middle, and every identity is then synced exactly once within the spread
// window.
func testBacklogDrains(t *testing.T, st *store.SQL) {
	const n, bound = 600, 125
	c := &clock{now: t0}
	seed(t, st, "m", store.ProtocolEmail, n/2, 0, t0.Add(-time.Hour))
	seed(t, st, "w", store.ProtocolEmail, n/2, 0, t0.Add(-90*time.Minute))
	rec := &recorder{}
	s := boundedScheduler(t, st, rec, c, bound)
	first := tick(t, s)
	if first.Backlog != n-bound || first.Sent+first.Spread != bound {
		t.Fatalf("first tick after an hour down: %+v, want %d handled and a backlog of %d", first, bound, n-bound)
	}
	predicted := int(first.CatchUp / s.cfg.Tick)
	if want := (n - bound + bound - 1) / bound; predicted != want {
		t.Fatalf("predicted catch-up %s (%d ticks), want %d ticks", first.CatchUp, predicted, want)
	}
	ticks := 0
	for backlog := first.Backlog; backlog > 0; ticks++ {
		if ticks > predicted {
			t.Fatalf("backlog of %d left after %d ticks, predicted %d", backlog, ticks, predicted)
		}
		if ticks == 1 { // a restart in the middle of the catch-up
			s = boundedScheduler(t, st, rec, c, bound)
		}
		c.advance(s.cfg.Tick)
		got := tick(t, s)
		if handled := got.Sent + got.Spread + got.Failed + got.Lost; handled > bound {
			t.Errorf("tick %d handled %d runs, bound %d", ticks+1, handled, bound)
		}
		backlog = got.Backlog
	}
	if ticks != predicted {
		t.Errorf("backlog claimed in %d more ticks, predicted %d", ticks, predicted)
	}
	for range int(s.cfg.Policy.Spread/s.cfg.Tick) + 1 {
		c.advance(s.cfg.Tick)
		if got := tick(t, s); got.Sent+got.Spread > bound {
			t.Errorf("tick after the catch-up handled %d runs, bound %d", got.Sent+got.Spread, bound)
		}
	}
	count := map[string]int{}
	for _, o := range rec.take() {
		count[o.order.RemoteID]++
	}
	syncedOnce(t, count, n)
	t.Logf("backlog of %d claimed in %d ticks at %d a tick, predicted %s", n, ticks+1, bound, first.CatchUp)
}
