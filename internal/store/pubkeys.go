package store

import (
	"context"
	"strings"
	"time"
)

// PublicKey is an OpenPGP public key of a contact, or of the user when
// ContactID is "". Simplified from the original: keyed by fingerprint
// (unique per user) instead of (resource, key id), and the JWK-like fields
// are dropped.
type PublicKey struct {
	ID          string
	UserID      string
	ContactID   string // the owning contact, "" for the user's own key
	Label       string
	Fingerprint string // uppercase hex, the natural key
	Armored     string // ASCII-armored key
	Algorithm   string
	Size        int // bits
	Emails      []string
	ExpiresAt   time.Time // zero when it never expires
	// Source says where the key came from: KeySourceAPI (given by the
	// user) or a discovery source (KeySourceWKD, ...).
	Source string
	// Authenticated reports that the answer that gave the key was
	// authenticated: a DNSSEC-validated (AD) DNS answer, or WKD/HKP over
	// verified TLS.
	Authenticated bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// PublicKeys manages public keys.
type PublicKeys interface {
	UpsertPublicKey(ctx context.Context, k PublicKey, orders ...func(PublicKey) Order) (PublicKey, error)
	GetPublicKey(ctx context.Context, userID, id string) (PublicKey, error)
	ListPublicKeys(ctx context.Context, userID, contactID string) ([]PublicKey, error)
	DeletePublicKey(ctx context.Context, userID, id string, orders ...Order) error
}

// Where a public key came from (PublicKey.Source).
const (
	KeySourceAPI       = "api"
	KeySourceWKD       = "wkd"
	KeySourceDANE      = "dane" // DNS OPENPGPKEY (RFC 7929)
	KeySourceHKP       = "hkp"
	KeySourceAutocrypt = "autocrypt"
)

const publicKeyCols = `id, user_id, contact_id, label, fingerprint, armored, algorithm, size, emails, expires_at,
	created_at, updated_at, source, authenticated`

func scanPublicKey(r scanner) (PublicKey, error) {
	var k PublicKey
	err := r.Scan(&k.ID, &k.UserID, strCol{&k.ContactID}, &k.Label, &k.Fingerprint, &k.Armored, &k.Algorithm,
		&k.Size, jsonCol{&k.Emails}, timeCol{&k.ExpiresAt}, timeCol{&k.CreatedAt}, timeCol{&k.UpdatedAt},
		&k.Source, &k.Authenticated)
	return k, err
}

// UpsertPublicKey stores k, or updates the key of the user with the same
// fingerprint (keeping its id and creation date), and returns what is
// stored. A ContactID the user does not have gives ErrNotFound. Each of
// orders builds an order from the stored key (its id is known once
// written), stored with it.
func (s *SQL) UpsertPublicKey(ctx context.Context, k PublicKey, orders ...func(PublicKey) Order) (PublicKey, error) {
	const op = "upsert public key"
	k.Fingerprint = strings.ToUpper(strings.ReplaceAll(k.Fingerprint, " ", ""))
	if k.UserID == "" || k.Fingerprint == "" || k.Armored == "" {
		return PublicKey{}, invalid(op, "user id, fingerprint and armored key are required")
	}
	now := s.stamp()
	var id string
	err := s.tx(ctx, func(cn conn) error {
		err := cn.row(ctx, `INSERT INTO public_keys (`+publicKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (user_id, fingerprint) DO UPDATE SET contact_id = excluded.contact_id, label = excluded.label,
		armored = excluded.armored, algorithm = excluded.algorithm, size = excluded.size, emails = excluded.emails,
		expires_at = excluded.expires_at, updated_at = excluded.updated_at, source = excluded.source,
		authenticated = excluded.authenticated
		RETURNING id`,
			orNewID(k.ID), k.UserID, nullStr(k.ContactID), k.Label, k.Fingerprint, k.Armored, k.Algorithm, k.Size,
			jsonList(k.Emails), micros(norm(k.ExpiresAt)), micros(now), micros(now), orAPI(k.Source), k.Authenticated).Scan(&id)
		if err != nil || len(orders) == 0 {
			return err
		}
		stored := k
		stored.ID = id
		built := make([]Order, len(orders))
		for i, build := range orders {
			built[i] = build(stored)
		}
		if err := checkOrders(op, built); err != nil {
			return err
		}
		return s.insertOrders(ctx, cn, built)
	})
	if err != nil {
		return PublicKey{}, s.fail(op, err)
	}
	return s.GetPublicKey(ctx, k.UserID, id)
}

// GetPublicKey returns public key id of user userID.
func (s *SQL) GetPublicKey(ctx context.Context, userID, id string) (PublicKey, error) {
	return first(ctx, s, "get public key "+id, scanPublicKey,
		`SELECT `+publicKeyCols+` FROM public_keys WHERE user_id = ? AND id = ?`,
		userID, id)
}

// ListPublicKeys returns the keys of contact contactID of user userID, or
// all the user's keys when contactID is "", oldest first.
func (s *SQL) ListPublicKeys(ctx context.Context, userID, contactID string) ([]PublicKey, error) {
	q, args := `SELECT `+publicKeyCols+` FROM public_keys WHERE user_id = ?`, []any{userID}
	if contactID != "" {
		q += ` AND contact_id = ?`
		args = append(args, contactID)
	}
	return all(ctx, s, "list public keys", scanPublicKey, q+` ORDER BY created_at, id`, args...)
}

// DeletePublicKey deletes public key id of user userID, and stores orders
// with the change.
func (s *SQL) DeletePublicKey(ctx context.Context, userID, id string, orders ...Order) error {
	op := "delete public key " + id
	if err := checkOrders(op, orders); err != nil {
		return err
	}
	err := s.withOrders(ctx, orders, func(cn conn) error {
		return cn.one(ctx, `DELETE FROM public_keys WHERE user_id = ? AND id = ?`, userID, id)
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// orAPI is the source of a key that names none: the user gave it.
func orAPI(source string) string {
	if source == "" {
		return KeySourceAPI
	}
	return source
}

// PublicKeyFingerprints returns the fingerprints of every key of user
// userID (what key discovery skips), read from the (user_id, fingerprint)
// index alone.
func (s *SQL) PublicKeyFingerprints(ctx context.Context, userID string) ([]string, error) {
	return all(ctx, s, "list key fingerprints", func(r scanner) (string, error) {
		var f string
		return f, r.Scan(&f)
	}, `SELECT fingerprint FROM public_keys WHERE user_id = ? ORDER BY fingerprint`, userID)
}
