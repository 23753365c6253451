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
// cfg.Concurrency at a time.
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
		claimed, err := s.deps.Store.ClaimSchedule(ctx, d, dec.Next)
		if err != nil {
			s.deps.Logger.Error("claim failed", "user_id", d.UserID, "identity_id", d.IdentityID, "err", err.Error())
			count(func(st *Stats) { st.Errors++ })
			continue
		}
		switch subject, polled := schedule.SubjectFor(d.Protocol); {
		case !claimed:
			count(func(st *Stats) { st.Lost++ })
		case !dec.Fire:
			count(func(st *Stats) { st.Spread++ })
		case !polled:
			count(func(st *Stats) { st.Skipped++ })
		default:
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				ok := s.send(ctx, subject, d, dec.Next, now)
				count(func(st *Stats) {
					if ok {
						st.Sent++
					} else {
						st.Failed++
					}
				})
			}()
		}
	}
	wg.Wait()
	return st
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
