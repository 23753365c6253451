package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/schedule"
	"github.com/caliopen/functions/internal/store"
)

// batch claims each due run and sends the orders of the claimed ones,
// cfg.Concurrency rows at a time. The claims run concurrently too: on
// SQLite the store commits concurrent writes together, so a tick with
// many overdue rows (after an outage) costs a commit per group of claims
// rather than one per row.
func (s *Scheduler) batch(ctx context.Context, now time.Time, due []store.Due) Stats {
	var (
		mu  sync.Mutex
		st  Stats
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.cfg.Concurrency)
	)
	count := func(f func(*Stats)) {
		mu.Lock()
		f(&st)
		mu.Unlock()
	}
	for _, d := range due {
		interval := s.cfg.Policy.Interval(d.Protocol, d.PollInterval)
		dec := s.cfg.Policy.Decide(now, d.NextRun, interval, s.rand())
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			count(s.row(ctx, now, d, dec))
		}()
	}
	wg.Wait()
	return st
}

// row claims the due run d with decision dec and sends its order when it
// fires; it returns how to count the row.
func (s *Scheduler) row(ctx context.Context, now time.Time, d store.Due, dec schedule.Decision) func(*Stats) {
	claimed, err := s.deps.Store.ClaimSchedule(ctx, d, dec.Next)
	if err != nil {
		s.deps.Logger.Error("claim failed", "user_id", d.UserID, "identity_id", d.IdentityID, "err", err.Error())
		return func(st *Stats) { st.Errors++ }
	}
	switch subject, polled := schedule.SubjectFor(d.Protocol); {
	case !claimed:
		return func(st *Stats) { st.Lost++ }
	case !dec.Fire:
		return func(st *Stats) { st.Spread++ }
	case !polled:
		return func(st *Stats) { st.Skipped++ }
	case s.send(ctx, subject, d, dec.Next, now):
		return func(st *Stats) { st.Sent++ }
	default:
		return func(st *Stats) { st.Failed++ }
	}
}

// send sends d's sync order on subject. When the send fails, the run
// (already moved to next by the claim) is moved to now + RetryDelay,
// unless something else moved it meanwhile.
func (s *Scheduler) send(ctx context.Context, subject string, d store.Due, next, now time.Time) bool {
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	order := contract.RemoteOrder{Order: contract.OrderSync, RemoteID: d.IdentityID, UserID: d.UserID}
	err := s.deps.Sender.Send(sctx, subject, order)
	s.deps.Metrics.order(subject, err)
	if err == nil {
		return true
	}
	log := s.deps.Logger.With("subject", subject, "order", contract.OrderSync, "user_id", d.UserID,
		"identity_id", d.IdentityID)
	claimed := d
	claimed.NextRun = next
	retry := now.Add(s.cfg.RetryDelay)
	if _, rerr := s.deps.Store.ClaimSchedule(context.WithoutCancel(ctx), claimed, retry); rerr != nil {
		log.Error("sync not sent and not rescheduled; sent at the next run", "err", err.Error(),
			"reschedule_err", rerr.Error())
		return false
	}
	log.Warn("sync not sent; retried", "err", err.Error(), "retry_at", retry)
	return false
}
