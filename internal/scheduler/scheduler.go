package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// Store is what the scheduler needs of the store; *store.SQL has it.
type Store interface {
	ClaimDue(ctx context.Context, now time.Time, limit int, next func(int, store.Due) time.Time) ([]store.Claim, []bool, error)
	ClaimSchedule(ctx context.Context, d store.Due, next time.Time) (bool, error)
	CountDue(ctx context.Context, now time.Time) (int, error)
}

// Sender sends one sync order on a subject and returns once it is
// acknowledged (see NATSSender).
type Sender interface {
	Send(ctx context.Context, subject string, order contract.RemoteOrder) error
}

// Deps are the scheduler's dependencies. Store, Sender and Logger are
// required.
type Deps struct {
	Store  Store
	Sender Sender
	Logger *slog.Logger
	// Metrics counts what the scheduler does; nil counts nothing.
	Metrics *Metrics
	// Now defaults to time.Now.
	Now func() time.Time
	// Rand returns uniform draws in [0, 1) for the jitter; it defaults to
	// a randomly seeded source.
	Rand func() float64
}

// Scheduler emits the sync orders of due schedules.
type Scheduler struct {
	cfg  Config
	deps Deps
	mu   sync.Mutex // guards deps.Rand
	// lastOK is the end of the last tick that read the store (unix nanos).
	lastOK atomic.Int64
	// backlog is the runs the last tick left due (Stats.Backlog).
	backlog atomic.Int64
}

// Stats counts the outcomes of one Tick.
type Stats struct {
	Sent    int // orders sent and acknowledged
	Failed  int // sends that failed (retried after RetryDelay)
	Spread  int // overdue runs moved instead of fired
	Lost    int // runs claimed by another replica first
	Skipped int // schedules of protocols that are not polled
	// Backlog counts the runs still due when the tick stopped at
	// MaxPerTick; 0 when it handled every due run.
	Backlog int
	// CatchUp is how long the backlog takes to claim at MaxPerTick a tick
	// (Config.CatchUp); the spread runs then fire within Policy.Spread.
	CatchUp time.Duration
}

// New checks cfg and deps and returns a scheduler.
func New(cfg Config, deps Deps) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Sender == nil || deps.Logger == nil {
		return nil, errors.New("scheduler: store, sender and logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Rand == nil {
		deps.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())).Float64
	}
	return &Scheduler{cfg: cfg, deps: deps}, nil
}

// Run ticks every cfg.Tick until ctx ends; a failed tick is logged and
// the next one tries again.
func (s *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		if _, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.deps.Logger.Error("tick failed", "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick handles the schedules due now, the most overdue first, a batch at a
// time, until none is left, a batch claims nothing (another replica took
// them all) or MaxPerTick runs were handled. A store that fails a batch's
// claim fails the tick, which claimed none of that batch: its runs stay
// due for the next tick. A tick stopped by the bound counts the runs still due, logs the
// backlog and how long claiming it takes, and leaves it to the next ticks.
func (s *Scheduler) Tick(ctx context.Context) (Stats, error) {
	var total Stats
	start := s.deps.Now()
	budget := s.cfg.MaxPerTick
	for budget > 0 {
		now := s.deps.Now()
		limit := min(s.cfg.Batch, budget, store.MaxLimit)
		st, read, err := s.batch(ctx, now, limit)
		if err != nil {
			s.deps.Metrics.tick(total, err)
			return total, err
		}
		budget -= read
		total.add(st)
		// A short batch was every run due: reading again would find none.
		if read < limit || st.Lost == read || ctx.Err() != nil {
			break
		}
	}
	if budget <= 0 {
		n, err := s.deps.Store.CountDue(ctx, s.deps.Now())
		if err != nil {
			s.deps.Metrics.tick(total, err)
			return total, err
		}
		total.Backlog, total.CatchUp = n, s.cfg.CatchUp(n)
	}
	s.deps.Metrics.tick(total, nil)
	s.backlog.Store(int64(total.Backlog))
	s.lastOK.Store(time.Now().UnixNano())
	if total.Backlog > 0 {
		s.deps.Logger.Info("catching up", "overdue", total.Backlog, "max_per_tick", s.cfg.MaxPerTick,
			"catch_up_s", total.CatchUp.Seconds())
	}
	if total != (Stats{}) {
		s.deps.Logger.Debug("tick", "sent", total.Sent, "failed", total.Failed, "spread", total.Spread,
			"lost", total.Lost, "skipped", total.Skipped, "took_ms", s.deps.Now().Sub(start).Milliseconds())
	}
	return total, nil
}

// Healthy reports whether a tick read the store within the last maxAge.
func (s *Scheduler) Healthy(maxAge time.Duration) bool {
	last := s.lastOK.Load()
	return last != 0 && time.Since(time.Unix(0, last)) <= maxAge
}

func (st *Stats) add(o Stats) {
	st.Sent += o.Sent
	st.Failed += o.Failed
	st.Spread += o.Spread
	st.Lost += o.Lost
	st.Skipped += o.Skipped
}

func (s *Scheduler) rand() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deps.Rand()
}
