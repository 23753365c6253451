package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Session is a login session of the API. Not in the original (its
// sessions lived in a separate cache): a session is found by the SHA-256 of
// its bearer token, so the database never holds a token that works.
type Session struct {
	// TokenHash is the lowercase hex SHA-256 of the session's token (64
	// characters): the key. Anything else is refused with ErrInvalid, so a
	// raw token cannot be stored by mistake.
	TokenHash string
	UserID    string
	CreatedAt time.Time // set by the store
	ExpiresAt time.Time // required; the session is unusable from then on
}

// Sessions manages login sessions. GetSession is a read by secret rather
// than by owner: whoever holds the token owns the session.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) (Session, error)
	GetSession(ctx context.Context, tokenHash string, now time.Time) (Session, error)
	SessionUser(ctx context.Context, tokenHash string, now time.Time) (User, error)
	DeleteSession(ctx context.Context, tokenHash string) error
}

const sessionCols = `token_hash, user_id, created_at, expires_at`

func scanSession(r scanner) (Session, error) {
	var s Session
	err := r.Scan(&s.TokenHash, &s.UserID, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt})
	return s, err
}

// validTokenHash reports whether h is 64 lowercase hex digits.
func validTokenHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CreateSession stores a session of an existing user (else ErrNotFound) and
// removes that user's expired sessions. Repeating the call with the same
// hash for the same user returns the stored session; the same hash for
// another user gives ErrConflict.
func (s *SQL) CreateSession(ctx context.Context, ses Session) (Session, error) {
	const op = "create session"
	if !validTokenHash(ses.TokenHash) || ses.UserID == "" || ses.ExpiresAt.IsZero() {
		return Session{}, invalid(op, "a 64-digit lowercase hex token hash, a user id and an expiry are required")
	}
	now := s.stamp()
	ses.CreatedAt, ses.ExpiresAt = now, norm(ses.ExpiresAt)
	err := s.tx(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?`,
			ses.UserID, micros(now)); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?)`,
			ses.TokenHash, ses.UserID, micros(ses.CreatedAt), micros(ses.ExpiresAt))
		return err
	})
	if err != nil {
		return repeated(s.fail(op, err), func() (Session, error) { return s.GetSession(ctx, ses.TokenHash, time.Time{}) },
			func(got Session) bool { return got.UserID == ses.UserID })
	}
	return ses, nil
}

// GetSession returns the session with this token hash if it has not expired
// at now (zero: the store's clock); an expired or unknown session gives
// ErrNotFound, and so does a malformed hash.
func (s *SQL) GetSession(ctx context.Context, tokenHash string, now time.Time) (Session, error) {
	const op = "get session"
	if !validTokenHash(tokenHash) {
		return Session{}, s.fail(op, sql.ErrNoRows)
	}
	return first(ctx, s, op, scanSession, `SELECT `+sessionCols+` FROM sessions
		WHERE token_hash = ? AND expires_at > ?`, tokenHash, micros(orNow(now, s.stamp())))
}

// SessionUser returns the user of the session with this token hash, as
// GetSession then GetUser would, in one read: an API request's
// authentication is one store round trip. An expired, unknown or
// malformed one gives ErrNotFound.
func (s *SQL) SessionUser(ctx context.Context, tokenHash string, now time.Time) (User, error) {
	const op = "get the user of a session"
	if !validTokenHash(tokenHash) {
		return User{}, s.fail(op, sql.ErrNoRows)
	}
	return first(ctx, s, op, scanUser, `SELECT `+sessionUserCols+` FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = ? AND s.expires_at > ?`, tokenHash, micros(orNow(now, s.stamp())))
}

// sessionUserCols are userCols of the users table as u.
var sessionUserCols = "u." + strings.ReplaceAll(userCols, ", ", ", u.")

// DeleteSession ends the session with this token hash; an unknown one gives
// ErrNotFound.
func (s *SQL) DeleteSession(ctx context.Context, tokenHash string) error {
	if err := s.write().one(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return s.fail("delete session", err)
	}
	return nil
}
