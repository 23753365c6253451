package store

import (
	"context"
	"errors"
	"time"
)

// IdempotencyKey is the record of a request sent with an Idempotency-Key
// header: the first request with a key runs, and its answer is kept until
// ExpiresAt for the requests that repeat it.
type IdempotencyKey struct {
	UserID string
	Key    string
	// Fingerprint identifies the request (method, route and body): the
	// same key with another request is refused.
	Fingerprint string
	// ResourceID is the id the first request gives the object it creates,
	// so that a request run again (its first run died before answering)
	// creates the same object.
	ResourceID string
	// Status is the answer's HTTP status; 0 while the request runs.
	Status int
	Header map[string]string
	Body   []byte
	// LockedUntil ends the claim of a running request: a request still
	// running then is taken to have died, and the next repeat runs again.
	LockedUntil time.Time
	ExpiresAt   time.Time
	CreatedAt   time.Time // set by the store
}

// Idempotency keeps the idempotency keys of the API's requests.
type Idempotency interface {
	ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey) (IdempotencyKey, bool, error)
	CompleteIdempotencyKey(ctx context.Context, k IdempotencyKey) error
	ReleaseIdempotencyKey(ctx context.Context, userID, key string) error
}

const idempotencyCols = `user_id, key, fingerprint, resource_id, status, header, body, created_at, locked_until, expires_at`

func scanIdempotencyKey(r scanner) (IdempotencyKey, error) {
	var k IdempotencyKey
	err := r.Scan(&k.UserID, &k.Key, &k.Fingerprint, &k.ResourceID, &k.Status, jsonCol{&k.Header}, &k.Body,
		timeCol{&k.CreatedAt}, timeCol{&k.LockedUntil}, timeCol{&k.ExpiresAt})
	return k, err
}

// ClaimIdempotencyKey records k as running, unless a live record of the
// same user and key exists: it then returns that record and false (the
// caller replays it, or refuses the request). A record past its expiry is
// replaced; a running record past LockedUntil with the same fingerprint is
// claimed again, keeping its ResourceID. The user's expired records are
// removed on the way.
func (s *SQL) ClaimIdempotencyKey(ctx context.Context, k IdempotencyKey) (IdempotencyKey, bool, error) {
	const op = "claim idempotency key"
	if k.UserID == "" || k.Key == "" || k.Fingerprint == "" || k.LockedUntil.IsZero() || k.ExpiresAt.IsZero() {
		return IdempotencyKey{}, false, invalid(op, "user id, key, fingerprint, lock and expiry are required")
	}
	now := s.stamp()
	k.ResourceID = orNewID(k.ResourceID)
	k.Status, k.Header, k.Body, k.CreatedAt = 0, nil, nil, now
	k.LockedUntil, k.ExpiresAt = norm(k.LockedUntil), norm(k.ExpiresAt)
	var got IdempotencyKey
	claimed := false
	err := s.tx(ctx, func(cn conn) error {
		if _, err := cn.exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = ? AND expires_at <= ?`,
			k.UserID, micros(now)); err != nil {
			return err
		}
		old, err := scanIdempotencyKey(cn.row(ctx, `SELECT `+idempotencyCols+` FROM idempotency_keys
			WHERE user_id = ? AND key = ?`, k.UserID, k.Key))
		switch {
		case isNoRows(err):
			claimed, got = true, k
			_, err := cn.exec(ctx, `INSERT INTO idempotency_keys (`+idempotencyCols+`)
				VALUES (?, ?, ?, ?, 0, '{}', NULL, ?, ?, ?)`, k.UserID, k.Key, k.Fingerprint, k.ResourceID,
				micros(now), micros(k.LockedUntil), micros(k.ExpiresAt))
			return err
		case err != nil:
			return err
		case old.Status == 0 && !old.LockedUntil.After(now) && old.Fingerprint == k.Fingerprint:
			claimed, got = true, old
			got.LockedUntil = k.LockedUntil
			return cn.one(ctx, `UPDATE idempotency_keys SET locked_until = ? WHERE user_id = ? AND key = ?`,
				micros(k.LockedUntil), k.UserID, k.Key)
		}
		got = old
		return nil
	})
	if errors.Is(s.d.classify(err), ErrConflict) {
		// Another request inserted the key meanwhile: it runs.
		got, err := first(ctx, s, op, scanIdempotencyKey, `SELECT `+idempotencyCols+` FROM idempotency_keys
			WHERE user_id = ? AND key = ?`, k.UserID, k.Key)
		return got, false, err
	}
	if err != nil {
		return IdempotencyKey{}, false, s.fail(op, err)
	}
	return got, claimed, nil
}

// CompleteIdempotencyKey stores the answer (Status, Header, Body) of the
// request that claimed k.
func (s *SQL) CompleteIdempotencyKey(ctx context.Context, k IdempotencyKey) error {
	const op = "complete idempotency key"
	if k.Status <= 0 {
		return invalid(op, "a status is required")
	}
	err := s.write().one(ctx, `UPDATE idempotency_keys SET status = ?, header = ?, body = ? WHERE user_id = ? AND key = ?
		AND fingerprint = ? AND status = 0`, k.Status, jsonMap(k.Header), k.Body, k.UserID, k.Key, k.Fingerprint)
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// ReleaseIdempotencyKey removes the record of a running request (one that
// failed in a way its client may retry), so the key can be used again.
func (s *SQL) ReleaseIdempotencyKey(ctx context.Context, userID, key string) error {
	if _, err := s.write().exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND status = 0`,
		userID, key); err != nil {
		return s.fail("release idempotency key", err)
	}
	return nil
}
