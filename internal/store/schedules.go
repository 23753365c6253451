package store

import (
	"context"
	"time"
)

// Due is a remote identity whose next sync is due.
type Due struct {
	UserID       string
	IdentityID   string
	Protocol     string
	PollInterval time.Duration
	NextRun      time.Time
}

// Schedules is the polling schedule of remote identities: the next run of
// each one. The original identities-worker kept it in memory and rebuilt it
// from a full scan; keeping it in the store lets the scheduler restart.
type Schedules interface {
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	DueSchedules(ctx context.Context, now time.Time, limit int) ([]Due, error)
}

// SetNextRun sets when identity identityID of user userID is next synced. It
// is an upsert; an unknown identity gives ErrNotFound.
func (s *SQL) SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error {
	var got string
	err := s.writeRow(ctx, func(r scanner) error { return r.Scan(&got) }, `INSERT INTO schedules (identity_id, user_id, next_run_at) VALUES (?, ?, ?)
		ON CONFLICT (identity_id) DO UPDATE SET next_run_at = excluded.next_run_at
		WHERE schedules.user_id = excluded.user_id RETURNING identity_id`,
		identityID, userID, micros(orNow(at, s.stamp())))
	if err != nil {
		return s.fail("set next run of identity "+identityID, err)
	}
	return nil
}

// DueSchedules returns up to limit active remote identities, of every user,
// whose next run is at or before now, the most overdue first. It is the
// scheduler's system read; it changes nothing.
func (s *SQL) DueSchedules(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	return all(ctx, s, "due schedules", scanDue, dueQuery, micros(orNow(now, s.stamp())), RemoteIdentity, Active,
		Page{Limit: limit}.limit())
}

const dueQuery = `SELECT i.user_id, i.id, i.protocol, i.poll_interval_s, sc.next_run_at
		FROM schedules sc JOIN identities i ON i.id = sc.identity_id AND i.user_id = sc.user_id
		WHERE sc.next_run_at <= ? AND i.type = ? AND i.status = ?
		ORDER BY sc.next_run_at, i.id LIMIT ?`

func scanDue(r scanner) (Due, error) {
	var d Due
	var poll int64
	err := r.Scan(&d.UserID, &d.IdentityID, &d.Protocol, &poll, timeCol{&d.NextRun})
	d.PollInterval = time.Duration(poll) * time.Second
	return d, err
}
