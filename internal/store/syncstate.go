package store

import (
	"context"
	"time"
)

// SyncState is what the workers remember about a remote identity between two
// syncs. The original kept it as strings in the identity's infos map
// (lastseenuid, uidvalidity, lastsync, lastFetchError, errorsCount,
// firstErrorDate, lastErrorDate, syncing).
type SyncState struct {
	// Cursor is where the next sync resumes: the last seen UID for IMAP,
	// the last seen direct message id for Twitter and Mastodon.
	Cursor string
	// UIDValidity is the IMAP UIDVALIDITY the cursor belongs to; when the
	// server reports another one, the cursor is void.
	UIDValidity uint32
	LastSync    time.Time // end of the last successful sync
	LastError   string    // the last failure, "" after a success
	ErrorCount  int       // failures since the last success
	// FirstErrorAt and LastErrorAt bound the current run of failures; the
	// original disables an identity when they are more than 72 h apart.
	FirstErrorAt time.Time
	LastErrorAt  time.Time
	// SyncingUntil is the end of the lease taken by AcquireSync.
	SyncingUntil time.Time
	// ThrottledUntil is the end of the account's rate-limit window
	// (SetThrottle): no sync calls its API before it.
	ThrottledUntil time.Time
}

// SyncProgress is what a successful (possibly partial) sync records.
type SyncProgress struct {
	Cursor      string
	UIDValidity uint32
	At          time.Time // zero means now
}

// SyncStates records the progress and failures of remote identity syncs.
type SyncStates interface {
	SaveSyncProgress(ctx context.Context, userID, identityID string, p SyncProgress) error
	RecordSyncError(ctx context.Context, userID, identityID, msg string, at time.Time) (SyncState, error)
	AcquireSync(ctx context.Context, userID, identityID string, now time.Time, lease time.Duration) (bool, error)
	ReleaseSync(ctx context.Context, userID, identityID string) error
	SetIdentityStatus(ctx context.Context, userID, identityID string, st IdentityStatus) error
}

// SaveSyncProgress stores the cursor and UIDVALIDITY reached and the time of
// the sync, and clears the failure fields: a sync that got this far logged in.
func (s *SQL) SaveSyncProgress(ctx context.Context, userID, identityID string, p SyncProgress) error {
	at := orNow(p.At, s.stamp())
	err := s.write().one(ctx, `UPDATE identities SET sync_cursor = ?, sync_uidvalidity = ?, last_sync_at = ?,
		last_error = '', error_count = 0, first_error_at = NULL, last_error_at = NULL
		WHERE user_id = ? AND id = ?`, p.Cursor, int64(p.UIDValidity), micros(at), userID, identityID)
	if err != nil {
		return s.fail("save sync progress of identity "+identityID, err)
	}
	return nil
}

// RecordSyncError counts one more failure at time at and returns the state
// after it, so the caller can apply its disabling policy. The first failure
// of a run sets FirstErrorAt; later ones keep it.
func (s *SQL) RecordSyncError(ctx context.Context, userID, identityID, msg string, at time.Time) (SyncState, error) {
	at = orNow(at, s.stamp())
	var st SyncState
	var uidv int64
	scan := func(r scanner) error {
		return r.Scan(&st.Cursor, &uidv, timeCol{&st.LastSync}, &st.LastError, &st.ErrorCount,
			timeCol{&st.FirstErrorAt}, timeCol{&st.LastErrorAt}, timeCol{&st.SyncingUntil})
	}
	err := s.writeRow(ctx, scan, `UPDATE identities SET last_error = ?, error_count = error_count + 1,
		first_error_at = COALESCE(first_error_at, ?), last_error_at = ?
		WHERE user_id = ? AND id = ?
		RETURNING sync_cursor, sync_uidvalidity, last_sync_at, last_error, error_count, first_error_at,
		last_error_at, syncing_until`,
		msg, micros(at), micros(at), userID, identityID)
	if err != nil {
		return SyncState{}, s.fail("record sync error of identity "+identityID, err)
	}
	st.UIDValidity = uint32(uidv)
	return st, nil
}

// AcquireSync takes the sync lease of an identity until now+lease, unless
// another holder's lease is still running: then it returns false. It keeps
// two overlapping sync orders from fetching the same mailbox; a crashed
// holder's lease simply runs out.
func (s *SQL) AcquireSync(ctx context.Context, userID, identityID string, now time.Time, lease time.Duration) (bool, error) {
	op := "acquire sync of identity " + identityID
	now = orNow(now, s.stamp())
	err := s.write().one(ctx, `UPDATE identities SET syncing_until = ?
		WHERE user_id = ? AND id = ? AND (syncing_until IS NULL OR syncing_until <= ?)`,
		micros(now.Add(lease)), userID, identityID, micros(now))
	if err == nil {
		return true, nil
	}
	err = s.fail(op, err)
	if _, gerr := s.GetIdentity(ctx, userID, identityID); gerr != nil {
		return false, gerr
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, err
}

// ReleaseSync ends the sync lease of an identity.
func (s *SQL) ReleaseSync(ctx context.Context, userID, identityID string) error {
	err := s.write().one(ctx, `UPDATE identities SET syncing_until = NULL WHERE user_id = ? AND id = ?`,
		userID, identityID)
	if err != nil {
		return s.fail("release sync of identity "+identityID, err)
	}
	return nil
}

// SetIdentityStatus activates or deactivates an identity (the workers
// deactivate one that kept failing).
func (s *SQL) SetIdentityStatus(ctx context.Context, userID, identityID string, st IdentityStatus) error {
	op := "set status of identity " + identityID
	if !st.Valid() {
		return invalid(op, "status %q is not active, inactive or reauth_required", st)
	}
	err := s.write().one(ctx, `UPDATE identities SET status = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
		st, micros(s.stamp()), userID, identityID)
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// SetThrottle records until when a remote account's API refuses calls
// (its rate-limit window); the zero time clears it.
func (s *SQL) SetThrottle(ctx context.Context, userID, identityID string, until time.Time) error {
	var v any
	if !until.IsZero() {
		v = micros(norm(until))
	}
	err := s.write().one(ctx, `UPDATE identities SET throttled_until = ? WHERE user_id = ? AND id = ?`, v, userID, identityID)
	if err != nil {
		return s.fail("set throttle of identity "+identityID, err)
	}
	return nil
}

// SetIdentityInfos sets the given infos keys of an identity and keeps the
// others (a worker records what it learnt of the account without
// overwriting the user's settings); an empty value removes its key.
func (s *SQL) SetIdentityInfos(ctx context.Context, userID, identityID string, set map[string]string) error {
	op := "set infos of identity " + identityID
	err := s.tx(ctx, func(c conn) error {
		var infos map[string]string
		if err := c.row(ctx, `SELECT infos FROM identities WHERE user_id = ? AND id = ?`, userID, identityID).
			Scan(jsonCol{&infos}); err != nil {
			return err
		}
		if infos == nil {
			infos = map[string]string{}
		}
		for k, v := range set {
			if v == "" {
				delete(infos, k)
			} else {
				infos[k] = v
			}
		}
		return c.one(ctx, `UPDATE identities SET infos = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
			jsonMap(infos), micros(s.stamp()), userID, identityID)
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ReauthNotification is the type of the notification RequireReauth
// stores: its body is the JSON of a ReauthNotice.
const ReauthNotification = "reauth_required"

// ReauthNotice is the body of a reauth_required notification.
type ReauthNotice struct {
	IdentityID string `json:"identity_id"`
	Protocol   string `json:"protocol"`
	Identifier string `json:"identifier"`
	Reason     string `json:"reason"`
}

// RequireReauth moves an active identity to ReauthRequired with reason as
// its last error, and stores n (the user's notification) in the same
// write. It returns false, changing nothing, when the identity is not
// active (already waiting for new credentials, or stopped), so a repeated
// refusal notifies once; ErrNotFound when there is no such identity.
func (s *SQL) RequireReauth(ctx context.Context, userID, identityID, reason string, n Notification) (bool, error) {
	op := "require reauthorization of identity " + identityID
	if n.UserID != userID || n.Type == "" {
		return false, invalid(op, "the notification must be the identity's user's and have a type")
	}
	n = s.notification(n)
	now := s.stamp()
	changed := false
	err := s.tx(ctx, func(c conn) error {
		changed = false
		res, err := c.exec(ctx, `UPDATE identities SET status = ?, last_error = ?, error_count = error_count + 1,
			first_error_at = COALESCE(first_error_at, ?), last_error_at = ?, updated_at = ?
			WHERE user_id = ? AND id = ? AND status = ?`,
			ReauthRequired, reason, micros(now), micros(now), micros(now), userID, identityID, Active)
		if err != nil {
			return err
		}
		if affected(res) != nil {
			return nil
		}
		changed = true
		return insertNotification(ctx, c, n, true)
	})
	if err != nil {
		return false, s.fail(op, err)
	}
	if !changed {
		if _, err := s.GetIdentity(ctx, userID, identityID); err != nil {
			return false, err
		}
	}
	return changed, nil
}
