package store

import (
	"context"
	"strings"
	"time"
)

// WKDKey is a key the system's hosted Web Key Directory serves for one of
// its users' addresses: under /.well-known/openpgpkey/<domain>/hu/<hash>
// (advanced method) and /.well-known/openpgpkey/hu/<hash> on the domain
// itself (direct method).
type WKDKey struct {
	Domain      string // lowercased
	LocalHash   string // z-base-32 of the SHA-1 of the lowercased local part
	KeyID       string // the PublicKey it was published from
	UserID      string
	Address     string
	Fingerprint string
	Data        []byte // the binary transferable public key, as WKD serves it
	PublishedAt time.Time
}

// HostedWKD manages the hosted Web Key Directory.
type HostedWKD interface {
	PublishWKD(ctx context.Context, keys []WKDKey) error
	WithdrawWKD(ctx context.Context, userID, keyID string) (int, error)
	LookupWKD(ctx context.Context, domain, localHash string) ([]WKDKey, error)
}

const wkdCols = `domain, local_hash, key_id, user_id, address, fingerprint, key_data, published_at`

func scanWKD(r scanner) (WKDKey, error) {
	var k WKDKey
	err := r.Scan(&k.Domain, &k.LocalHash, &k.KeyID, &k.UserID, &k.Address, &k.Fingerprint, &k.Data,
		timeCol{&k.PublishedAt})
	return k, err
}

// PublishWKD stores keys in one transaction; a key already published under
// the same (domain, hash, key id) is replaced, so publishing twice leaves
// one copy.
func (s *SQL) PublishWKD(ctx context.Context, keys []WKDKey) error {
	const op = "publish wkd keys"
	for _, k := range keys {
		if k.Domain == "" || k.LocalHash == "" || k.KeyID == "" || k.UserID == "" || len(k.Data) == 0 {
			return invalid(op, "domain, hash, key id, user id and key data are required")
		}
	}
	now := micros(s.stamp())
	err := s.tx(ctx, func(cn conn) error {
		for _, k := range keys {
			if _, err := cn.exec(ctx, `INSERT INTO wkd_keys (`+wkdCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (domain, local_hash, key_id) DO UPDATE SET user_id = excluded.user_id,
				address = excluded.address, fingerprint = excluded.fingerprint, key_data = excluded.key_data,
				published_at = excluded.published_at`,
				strings.ToLower(k.Domain), k.LocalHash, k.KeyID, k.UserID, strings.ToLower(k.Address),
				k.Fingerprint, k.Data, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// WithdrawWKD removes every address's copy of key keyID of user userID and
// says how many it removed (0 when it was not published).
func (s *SQL) WithdrawWKD(ctx context.Context, userID, keyID string) (int, error) {
	res, err := s.write().exec(ctx, `DELETE FROM wkd_keys WHERE user_id = ? AND key_id = ?`, userID, keyID)
	if err != nil {
		return 0, s.fail("withdraw wkd key "+keyID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("withdraw wkd key "+keyID, err)
	}
	return int(n), nil
}

// LookupWKD returns the keys published for (domain, localHash), oldest
// first.
func (s *SQL) LookupWKD(ctx context.Context, domain, localHash string) ([]WKDKey, error) {
	return all(ctx, s, "lookup wkd", scanWKD, `SELECT `+wkdCols+` FROM wkd_keys WHERE domain = ? AND local_hash = ?
		ORDER BY published_at, key_id`, strings.ToLower(domain), localHash)
}
