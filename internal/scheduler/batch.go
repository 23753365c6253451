package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/schedule"
	"github.com/caliopen/functions/internal/store"
)

// batch reads and claims up to limit due runs in one store transaction,
// then sends the orders of the claimed runs that fire, cfg.Concurrency at
// a time. It returns what it did and how many runs it read.
func (s *Scheduler) batch(ctx context.Context, now time.Time, limit int) (Stats, int, error) {
	var st Stats
	var fire []bool
	// During a catch-up, an overdue run is spread after the backlog the
	// last tick left is claimed: spread sooner, it would come due behind
	// older runs, wait, and fire in a burst once the backlog is drained.
	after := s.cfg.CatchUp(int(s.backlog.Load()))
	claims, won, err := s.deps.Store.ClaimDue(ctx, now, limit, func(i int, d store.Due) time.Time {
		interval := s.cfg.Policy.Interval(d.Protocol, d.PollInterval)
		dec := s.cfg.Policy.Decide(now, d.NextRun, interval, s.rand())
		if !dec.Fire {
			dec.Next = dec.Next.Add(after)
		}
		for len(fire) <= i {
			fire = append(fire, false)
		}
		fire[i] = dec.Fire
		return dec.Next
	})
	if err != nil {
		return st, 0, err
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.cfg.Concurrency)
	)
	for i, c := range claims {
		subject, polled := schedule.SubjectFor(c.Due.Protocol)
		switch {
		case !won[i]:
			st.Lost++
			continue
		case !fire[i]:
			st.Spread++
			continue
		case !polled:
			st.Skipped++
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok := s.send(ctx, subject, c.Due, c.Next, now)
			mu.Lock()
			if ok {
				st.Sent++
			} else {
				st.Failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return st, len(claims), nil
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
