package store

import (
	"context"
	"strings"
	"time"
)

// Polling is what the scheduler and the identity functions need beyond
// Schedules: claiming a due run so that two schedulers never both emit it,
// creating a schedule only once, and the identity fields they change.
type Polling interface {
	ClaimSchedule(ctx context.Context, d Due, next time.Time) (bool, error)
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	PullSchedule(ctx context.Context, userID, identityID string, at time.Time) error
	DeleteSchedule(ctx context.Context, userID, identityID string) error
	GetSchedule(ctx context.Context, userID, identityID string) (time.Time, error)
	SetPollInterval(ctx context.Context, userID, identityID string, d time.Duration) error
	ClearSyncError(ctx context.Context, userID, identityID string) error
}

const claimQuery = `UPDATE schedules SET next_run_at = ?
		WHERE identity_id = ? AND user_id = ? AND next_run_at = ?`

// ClaimSchedule moves the run d (read by DueSchedules) to next, but only if
// nobody moved it since d was read: it is a compare-and-set on the next run.
// It returns true to the one caller that moved it, which then emits the
// sync; false means another scheduler claimed it, or its schedule changed.
func (s *SQL) ClaimSchedule(ctx context.Context, d Due, next time.Time) (bool, error) {
	err := s.write().one(ctx, claimQuery,
		micros(orNow(next, s.stamp())), d.IdentityID, d.UserID, micros(norm(d.NextRun)))
	if err == nil {
		return true, nil
	}
	if isNoRows(err) {
		return false, nil
	}
	return false, s.fail("claim schedule of identity "+d.IdentityID, err)
}

// Claim is one compare-and-set of ClaimSchedules: move the run Due to
// Next.
type Claim struct {
	Due  Due
	Next time.Time
}

// ClaimDue reads up to limit due runs as DueSchedules does and claims
// each, as ClaimSchedule does, moving it to next(d), all in one write
// transaction: a scheduler tick's one round trip, whose read finds the
// writer's pages warm. It returns the runs read, in order, and for each
// whether this caller moved it (false: another scheduler claimed it
// first). next(i, d) is called for the i-th run read, inside the
// transaction, which may run again (SQLite's group commit): the last call
// for each i counts.
func (s *SQL) ClaimDue(ctx context.Context, now time.Time, limit int, next func(int, Due) time.Time) ([]Claim, []bool, error) {
	var (
		claims []Claim
		won    []bool
	)
	err := s.tx(ctx, func(c conn) error {
		rows, err := c.query(ctx, dueQuery, micros(orNow(now, s.stamp())), RemoteIdentity, Active, Page{Limit: limit}.limit())
		if err != nil {
			return err
		}
		due, err := collect(rows, scanDue)
		if err != nil {
			return err
		}
		claims, won = make([]Claim, len(due)), make([]bool, len(due))
		for i, d := range due {
			claims[i] = Claim{Due: d, Next: next(i, d)}
		}
		for lo := 0; lo < len(claims); lo += claimChunk {
			if err := s.claimChunk(ctx, c, claims[lo:min(lo+claimChunk, len(claims))], won[lo:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.fail("claim due schedules", err)
	}
	return claims, won, nil
}

// claimChunk is the most claims one statement makes; a chunk is padded
// up to the next power of two from 8 (rows that match nothing), so that
// the store prepares four statements, not one a batch size.
const claimChunk = 64

// claimManyQueries are the statements claiming 8, 16, 32 and 64 runs.
var claimManyQueries = func() map[int]string {
	qs := map[int]string{}
	for n := 8; n <= claimChunk; n *= 2 {
		rows := strings.Repeat("(?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)), ", n)
		qs[n] = `WITH c (identity_id, user_id, old_run, new_run) AS (VALUES ` + rows[:len(rows)-2] + `)
		UPDATE schedules SET next_run_at = c.new_run FROM c
		WHERE schedules.identity_id = c.identity_id AND schedules.user_id = c.user_id
		AND schedules.next_run_at = c.old_run
		RETURNING schedules.identity_id`
	}
	return qs
}()

// claimChunk makes the compare-and-set of each of claims (at most
// claimChunk) in one statement, as claimQuery does for one, and sets
// won[i] for each claim it moved. One statement instead of one a run
// spares the per-statement work of the driver, of database/sql and of
// SQLite's statement cycle: BenchmarkClaimDue went from 12.4 to 8.0 µs of
// CPU and from 32 to 20 allocations a claim (docs/benchmarks.md).
func (s *SQL) claimChunk(ctx context.Context, c conn, claims []Claim, won []bool) error {
	n := 8
	for n < len(claims) {
		n *= 2
	}
	args := make([]any, 0, 4*n)
	at := make(map[string]int, len(claims))
	for i, cl := range claims {
		at[cl.Due.IdentityID] = i
		args = append(args, cl.Due.IdentityID, cl.Due.UserID, micros(norm(cl.Due.NextRun)),
			micros(orNow(cl.Next, s.stamp())))
	}
	for range n - len(claims) {
		args = append(args, nil, nil, nil, nil) // matches no schedule
	}
	rows, err := c.query(ctx, claimManyQueries[n], args...)
	if err != nil {
		return err
	}
	moved, err := collect(rows, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
	if err != nil {
		return err
	}
	for _, id := range moved {
		if i, ok := at[id]; ok {
			won[i] = true
		}
	}
	return nil
}

// CountDue counts the schedules whose next run is at or before now: the
// backlog a scheduler reports while it catches up. It reads the schedules'
// index alone, so it also counts the few runs of identities that are no
// longer active (DueSchedules skips those): an upper bound.
func (s *SQL) CountDue(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.read().row(ctx, `SELECT count(*) FROM schedules WHERE next_run_at <= ?`,
		micros(orNow(now, s.stamp()))).Scan(&n)
	if err != nil {
		return 0, s.fail("count due schedules", err)
	}
	return n, nil
}

// EnsureSchedule creates the schedule of an identity with its next run at
// at, unless it has one: then nothing changes and it returns false. An
// unknown identity gives ErrNotFound.
func (s *SQL) EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error) {
	res, err := s.write().exec(ctx, `INSERT INTO schedules (identity_id, user_id, next_run_at) VALUES (?, ?, ?)
		ON CONFLICT (identity_id) DO NOTHING`, identityID, userID, micros(orNow(at, s.stamp())))
	if err != nil {
		return false, s.fail("ensure schedule of identity "+identityID, err)
	}
	if err := affected(res); err != nil {
		if isNoRows(err) {
			return false, nil
		}
		return false, s.fail("ensure schedule of identity "+identityID, err)
	}
	return true, nil
}

// PullSchedule brings the next run of an identity forward to at when it is
// later; an earlier run, or no schedule, is left alone.
func (s *SQL) PullSchedule(ctx context.Context, userID, identityID string, at time.Time) error {
	t := micros(orNow(at, s.stamp()))
	_, err := s.write().exec(ctx, `UPDATE schedules SET next_run_at = ?
		WHERE user_id = ? AND identity_id = ? AND next_run_at > ?`, t, userID, identityID, t)
	if err != nil {
		return s.fail("pull schedule of identity "+identityID, err)
	}
	return nil
}

// DeleteSchedule removes the schedule of an identity; none is not an error.
func (s *SQL) DeleteSchedule(ctx context.Context, userID, identityID string) error {
	_, err := s.write().exec(ctx, `DELETE FROM schedules WHERE user_id = ? AND identity_id = ?`, userID, identityID)
	if err != nil {
		return s.fail("delete schedule of identity "+identityID, err)
	}
	return nil
}

// GetSchedule returns the next run of an identity; ErrNotFound when it has
// no schedule.
func (s *SQL) GetSchedule(ctx context.Context, userID, identityID string) (time.Time, error) {
	return first(ctx, s, "get schedule of identity "+identityID, func(r scanner) (time.Time, error) {
		var t time.Time
		err := r.Scan(timeCol{&t})
		return t, err
	}, `SELECT next_run_at FROM schedules WHERE user_id = ? AND identity_id = ?`, userID, identityID)
}

// SetPollInterval sets the poll interval of an identity (kept to the
// second) and nothing else, so it never overwrites an edit of its profile.
func (s *SQL) SetPollInterval(ctx context.Context, userID, identityID string, d time.Duration) error {
	op := "set poll interval of identity " + identityID
	if d <= 0 {
		return invalid(op, "poll interval %s is not positive", d)
	}
	err := s.write().one(ctx, `UPDATE identities SET poll_interval_s = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
		int64(d/time.Second), micros(s.stamp()), userID, identityID)
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ClearSyncError forgets the failures of an identity's syncs (last error,
// count, first and last error times) and keeps its cursor.
func (s *SQL) ClearSyncError(ctx context.Context, userID, identityID string) error {
	err := s.write().one(ctx, `UPDATE identities SET last_error = '', error_count = 0, first_error_at = NULL,
		last_error_at = NULL WHERE user_id = ? AND id = ?`, userID, identityID)
	if err != nil {
		return s.fail("clear sync errors of identity "+identityID, err)
	}
	return nil
}
