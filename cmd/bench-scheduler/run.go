package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/cpuprof"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/store"
)

// counter is a Sender that counts orders.
type counter struct{ n atomic.Int64 }

func (c *counter) Send(context.Context, string, contract.RemoteOrder) error {
	c.n.Add(1)
	return nil
}

// fakeClock is the simulated time the scheduler sees.
type fakeClock struct{ now atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }

func (c *fakeClock) advance(d time.Duration) { c.now.Add(int64(d)) }

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-scheduler", flag.ContinueOnError)
	n := fs.Int("n", 100000, "remote identities")
	twitter := fs.Float64("twitter", 0.1, "fraction of Twitter identities (2 min interval)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the ticks (not the seeding) to this file")
	figures := fs.String("figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-scheduler-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "bench.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	clk := &fakeClock{}
	clk.now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	t := time.Now()
	if err := seed(ctx, st, clk.Now(), *n, *twitter); err != nil {
		return err
	}
	fmt.Fprintf(out, "bench-scheduler: %d identities (%.0f%% Twitter) on SQLite, seeded in %s\n", *n, 100**twitter,
		time.Since(t).Round(time.Millisecond))
	// The profile covers the ticks, not the seeding.
	stopProfile, err := cpuprof.Start(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	cnt := &counter{}
	s, err := scheduler.New(scheduler.DefaultConfig(), scheduler.Deps{Store: st, Sender: cnt,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: clk.Now})
	if err != nil {
		return err
	}
	var figs []benchresult.Figure
	phase := func(key, name string, ticks int, step time.Duration) error {
		m := startMeasure()
		var most int
		var slowest time.Duration
		for range ticks {
			clk.advance(step)
			before, t := cnt.n.Load(), time.Now()
			if _, err := s.Tick(ctx); err != nil {
				return err
			}
			slowest = max(slowest, time.Since(t))
			most = max(most, int(cnt.n.Load()-before))
			m.sample()
		}
		m.report(out, name, ticks, cnt.n.Swap(0), most, slowest)
		// A tick must end within its period: the period is the reference.
		figs = append(figs, benchresult.Lower("scheduler/"+key+"-slowest-tick", "scheduler, slowest tick, "+name,
			float64(slowest)/float64(time.Millisecond), float64(step)/float64(time.Millisecond), "ms", "the tick period").WithTarget(1))
		return nil
	}
	if err := phase("steady", "steady, 15 simulated minutes at 1 s ticks", 900, time.Second); err != nil {
		return err
	}
	clk.advance(time.Hour)
	if err := phase("restart", "restart after 1 h down, 6 simulated minutes", 360, time.Second); err != nil {
		return err
	}
	return benchresult.Append(*figures, figs...)
}

// seed creates n identities spread over 20 users, their first runs spread
// uniformly over one e-mail interval.
func seed(ctx context.Context, st *store.SQL, now time.Time, n int, twitter float64) error {
	r := rand.New(rand.NewPCG(1, 1))
	var user store.User
	for i := range n {
		if i%(n/20+1) == 0 {
			u, err := st.CreateUser(ctx, store.User{Name: fmt.Sprintf("u%d", i), PasswordHash: "x"})
			if err != nil {
				return err
			}
			user = u
		}
		proto, poll := store.ProtocolEmail, 15*time.Minute
		if r.Float64() < twitter {
			proto, poll = store.ProtocolTwitter, 2*time.Minute
		}
		id, err := st.CreateIdentity(ctx, store.Identity{UserID: user.ID, Type: store.RemoteIdentity, Protocol: proto,
			Identifier: fmt.Sprintf("id%d@r.example", i), PollInterval: poll})
		if err != nil {
			return err
		}
		if err := st.SetNextRun(ctx, user.ID, id.ID, now.Add(time.Duration(r.Int64N(int64(poll))))); err != nil {
			return err
		}
	}
	return nil
}

// measure samples CPU time and heap over a phase.
type measure struct {
	wall     time.Time
	cpu      time.Duration
	ms       runtime.MemStats
	peakHeap uint64
}

func startMeasure() *measure {
	runtime.GC()
	m := &measure{wall: time.Now(), cpu: cpuprof.Used()}
	runtime.ReadMemStats(&m.ms)
	return m
}

func (m *measure) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.peakHeap = max(m.peakHeap, ms.HeapAlloc)
}

func (m *measure) report(out io.Writer, name string, ticks int, orders int64, maxTick int, slowest time.Duration) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	wall, cpu := time.Since(m.wall), cpuprof.Used()-m.cpu
	fmt.Fprintf(out, "  %s:\n", name)
	fmt.Fprintf(out, "    orders %d (at most %d in one tick), wall %s (slowest tick %s), CPU %s (%.2f ms CPU a tick, %.1f µs CPU an order)\n",
		orders, maxTick, wall.Round(time.Millisecond), slowest.Round(time.Millisecond), cpu.Round(time.Millisecond),
		float64(cpu.Microseconds())/1000/float64(ticks), float64(cpu.Microseconds())/float64(max(orders, 1)))
	fmt.Fprintf(out, "    heap peak %.1f MiB, allocated %.1f MiB in %d mallocs, Sys %.1f MiB, GC cycles %d\n",
		mib(m.peakHeap), mib(ms.TotalAlloc-m.ms.TotalAlloc), ms.Mallocs-m.ms.Mallocs, mib(ms.Sys), ms.NumGC-m.ms.NumGC)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
