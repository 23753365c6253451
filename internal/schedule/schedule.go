// Package schedule computes when remote identities are polled: the
// interval of a protocol, the jittered next run, what to do with a run that
// is overdue (fire it or spread it), and backoff delays. It is pure: the
// caller passes the time and the random draws, so tests need no clock.
//
// Routing is here too: e-mail identities (protocol email or imap) are
// synced by a sync order on IMAPfetcher, Twitter identities on twitter_dm,
// Mastodon identities on mastodon_dm. Other protocols (smtp) are not
// polled.
package schedule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

// Default intervals, as the original identities-worker.
const (
	DefaultEmailInterval   = 15 * time.Minute
	DefaultTwitterInterval = 2 * time.Minute
)

// Bounds of a poll interval set by update_interval (poll_intervall, in
// minutes): 1 minute to 1 day.
const (
	MinIntervalMinutes = 1
	MaxIntervalMinutes = 1440
)

// Protocols polled. The store calls e-mail "email"; the original's
// imap-bridge and API also wrote "imap".
const (
	protocolEmail    = "email"
	protocolIMAP     = "imap"
	protocolTwitter  = "twitter"
	protocolMastodon = "mastodon"
)

// SubjectFor returns the subject whose sync order polls an identity of
// this protocol, and false for a protocol that is not polled.
func SubjectFor(protocol string) (string, bool) {
	switch protocol {
	case protocolEmail, protocolIMAP:
		return contract.SubjectIMAPFetcher, true
	case protocolTwitter:
		return contract.SubjectTwitterDM, true
	case protocolMastodon:
		return contract.SubjectMastodonDM, true
	}
	return "", false
}

// CheckMinutes validates a poll_intervall.
func CheckMinutes(m int) error {
	if m < MinIntervalMinutes || m > MaxIntervalMinutes {
		return fmt.Errorf("poll_intervall %d is not between %d and %d minutes", m, MinIntervalMinutes, MaxIntervalMinutes)
	}
	return nil
}

// Policy is how the scheduler spaces runs.
type Policy struct {
	// EmailInterval and TwitterInterval apply to identities without a
	// poll interval of their own.
	EmailInterval   time.Duration
	TwitterInterval time.Duration
	// Jitter is the fraction of the interval by which a next run is moved
	// at random, both ways (0.1: ±10 %), so that identities added together
	// drift apart.
	Jitter float64
	// Grace is how late a run may be and still fire at once. A run later
	// than that (the scheduler was down, or behind) is not fired but moved
	// to a random time within Spread, so a restart does not send every
	// overdue order at once.
	Grace time.Duration
	// Spread is the longest window over which overdue runs are spread; a
	// run is never spread beyond its own interval.
	Spread time.Duration
}

// DefaultPolicy is the scheduler's policy without configuration.
func DefaultPolicy() Policy {
	return Policy{EmailInterval: DefaultEmailInterval, TwitterInterval: DefaultTwitterInterval,
		Jitter: 0.1, Grace: 30 * time.Second, Spread: 5 * time.Minute}
}

// Validate reports every problem of p at once.
func (p Policy) Validate() error {
	var errs []error
	if p.EmailInterval < time.Minute || p.TwitterInterval < time.Minute {
		errs = append(errs, errors.New("default intervals must be at least a minute"))
	}
	if p.Jitter < 0 || p.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("jitter %g is not in [0, 1)", p.Jitter))
	}
	if p.Grace <= 0 {
		errs = append(errs, errors.New("grace must be positive"))
	}
	if p.Spread <= 0 {
		errs = append(errs, errors.New("spread must be positive"))
	}
	return errors.Join(errs...)
}

// Interval is the poll interval of an identity: its own when set, else the
// protocol's default (Mastodon's is Twitter's, as the original's "2").
func (p Policy) Interval(protocol string, own time.Duration) time.Duration {
	if own > 0 {
		return own
	}
	if protocol == protocolTwitter || protocol == protocolMastodon {
		return p.TwitterInterval
	}
	return p.EmailInterval
}

// Next is the run after one at now: now + interval, moved by the jitter.
// r is a uniform draw in [0, 1).
func (p Policy) Next(now time.Time, interval time.Duration, r float64) time.Time {
	j := time.Duration((2*r - 1) * p.Jitter * float64(interval))
	return now.Add(interval + j)
}

// Decision says what to do with a due run.
type Decision struct {
	// Fire is true when the sync order is sent now.
	Fire bool
	// Next is the run's new time.
	Next time.Time
}

// Decide handles a run due at due, seen at now: on time (no later than
// Grace) it fires and the next run is Next; overdue, it is moved to a
// random time within min(Spread, interval) from now without firing.
func (p Policy) Decide(now, due time.Time, interval time.Duration, r float64) Decision {
	if now.Sub(due) <= p.Grace {
		return Decision{Fire: true, Next: p.Next(now, interval, r)}
	}
	window := min(p.Spread, interval)
	return Decision{Next: now.Add(time.Duration(r * float64(window)))}
}

// Backoff is the delay before attempt n+1 after n failures: base·2^(n-1),
// capped at max; n < 1 counts as 1.
func Backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}
