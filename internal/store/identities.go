package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/secrets"
)

// IdentityType tells a local identity (an address this system receives mail
// for) from a remote one (an external account the system polls).
type IdentityType string

// Identity types.
const (
	LocalIdentity  IdentityType = "local"
	RemoteIdentity IdentityType = "remote"
)

// IdentityStatus says whether a remote identity is polled.
type IdentityStatus string

// Identity statuses. The original also had "deleted"; here a deleted
// identity is gone. ReauthRequired is an account whose remote service
// refused its credentials (a revoked or refused refresh token, revoked
// OAuth 1.0a tokens): it is not polled, and nothing is sent from it, until
// the user gives new credentials, and it then resumes from its cursor
// (see RequireReauth). Any protocol's bridge may set it.
const (
	Active         IdentityStatus = "active"
	Inactive       IdentityStatus = "inactive"
	ReauthRequired IdentityStatus = "reauth_required"
)

// Valid says st is a known status.
func (st IdentityStatus) Valid() bool {
	return st == Active || st == Inactive || st == ReauthRequired
}

// Protocols of identities and messages, as the original names them.
const (
	ProtocolEmail    = "email"
	ProtocolTwitter  = "twitter"
	ProtocolMastodon = "mastodon"
)

// Identity is an address or account of a user. Simplified from the
// original: the sync state that lived in the free-form infos map
// (lastseenuid, uidvalidity, lastsync, errorsCount, ...) is typed in Sync,
// and credentials are one sealed blob instead of a plaintext map.
type Identity struct {
	ID          string
	UserID      string
	Type        IdentityType
	Protocol    string // ProtocolEmail, ProtocolTwitter, ...
	Identifier  string // e-mail address or screen name, lowercased on write
	DisplayName string
	Status      IdentityStatus // "" means Active on create
	// PollInterval is the time between two syncs of a remote identity
	// (kept to the second); 0 for local identities.
	PollInterval time.Duration
	// Infos holds connection settings: inserver, outserver, authtype,
	// provider, ... as in the original.
	Infos map[string]string
	// Credentials are the sealed account credentials (see SetCredentials).
	Credentials secrets.Sealed
	// Sync is the state of the last syncs, written by the workers.
	Sync      SyncState
	CreatedAt time.Time
	UpdatedAt time.Time
}

// IdentityFilter narrows ListIdentities; zero fields match everything.
type IdentityFilter struct {
	Type     IdentityType
	Protocol string
}

// Identities manages the identities of users.
type Identities interface {
	CreateIdentity(ctx context.Context, id Identity, orders ...Order) (Identity, error)
	GetIdentity(ctx context.Context, userID, id string) (Identity, error)
	ListIdentities(ctx context.Context, userID string, f IdentityFilter) ([]Identity, error)
	UpdateIdentity(ctx context.Context, id Identity, orders ...Order) (Identity, error)
	DeleteIdentity(ctx context.Context, userID, id string, orders ...Order) error
	LookupIdentities(ctx context.Context, protocol, identifier string) ([]Identity, error)
}

// Credentials stores the sealed credentials of remote identities.
type Credentials interface {
	SetCredentials(ctx context.Context, userID, identityID string, c secrets.Sealed) error
}

const identityCols = `id, user_id, type, protocol, identifier, display_name, status, poll_interval_s, infos,
	credentials, sync_cursor, sync_uidvalidity, last_sync_at, last_error, error_count, first_error_at,
	last_error_at, syncing_until, created_at, updated_at, throttled_until`

func scanIdentity(r scanner) (Identity, error) {
	var (
		i     Identity
		poll  int64
		creds []byte
		uidv  int64
	)
	st := &i.Sync
	err := r.Scan(&i.ID, &i.UserID, &i.Type, &i.Protocol, &i.Identifier, &i.DisplayName, &i.Status, &poll,
		jsonCol{&i.Infos}, &creds, &st.Cursor, &uidv, timeCol{&st.LastSync}, &st.LastError, &st.ErrorCount,
		timeCol{&st.FirstErrorAt}, timeCol{&st.LastErrorAt}, timeCol{&st.SyncingUntil},
		timeCol{&i.CreatedAt}, timeCol{&i.UpdatedAt}, timeCol{&st.ThrottledUntil})
	if err != nil {
		return Identity{}, err
	}
	i.PollInterval = time.Duration(poll) * time.Second
	st.UIDValidity = uint32(uidv)
	if i.Credentials, err = secrets.ParseSealed(creds); err != nil {
		return Identity{}, fmt.Errorf("identity %s credentials: %w", i.ID, err)
	}
	return i, nil
}

// check validates and normalises the fields a caller sets.
func (i *Identity) check(op string) error {
	i.Identifier = strings.ToLower(strings.TrimSpace(i.Identifier))
	if i.Status == "" {
		i.Status = Active
	}
	var bad []string
	if i.UserID == "" {
		bad = append(bad, "user id is required")
	}
	if i.Type != LocalIdentity && i.Type != RemoteIdentity {
		bad = append(bad, fmt.Sprintf("type %q is not local or remote", i.Type))
	}
	if i.Protocol == "" {
		bad = append(bad, "protocol is required")
	}
	if i.Identifier == "" {
		bad = append(bad, "identifier is required")
	}
	if !i.Status.Valid() {
		bad = append(bad, fmt.Sprintf("status %q is not active, inactive or reauth_required", i.Status))
	}
	if i.PollInterval < 0 {
		bad = append(bad, "poll interval is negative")
	}
	if len(bad) > 0 {
		return invalid(op, "%s", strings.Join(bad, "; "))
	}
	return nil
}

// CreateIdentity stores a new identity with its credentials, if any; an
// empty ID gets a fresh one. The same (protocol, identifier) twice for one
// user, or a local address that another user holds, gives ErrConflict,
// unless the call repeats an earlier one with the same ID. orders are
// stored with it (see Order).
func (s *SQL) CreateIdentity(ctx context.Context, i Identity, orders ...Order) (Identity, error) {
	const op = "create identity"
	if err := i.check(op); err != nil {
		return Identity{}, err
	}
	if err := checkOrders(op, orders); err != nil {
		return Identity{}, err
	}
	i.ID = orNewID(i.ID)
	now := s.stamp()
	i.CreatedAt, i.UpdatedAt, i.Sync = now, now, SyncState{}
	insert := func(cn conn) error {
		_, err := cn.exec(ctx, `INSERT INTO identities (id, user_id, type, protocol, identifier, display_name,
		status, poll_interval_s, infos, credentials, credentials_key_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i.ID, i.UserID, i.Type, i.Protocol, i.Identifier, i.DisplayName, i.Status,
			int64(i.PollInterval/time.Second), jsonMap(i.Infos), i.Credentials.Bytes(), i.Credentials.KeyID(),
			micros(now), micros(now))
		return err
	}
	if err := s.withOrders(ctx, orders, insert); err != nil {
		return repeated(s.fail(op, err), func() (Identity, error) { return s.GetIdentity(ctx, i.UserID, i.ID) },
			func(got Identity) bool { return got.Protocol == i.Protocol && got.Identifier == i.Identifier })
	}
	i.PollInterval = i.PollInterval.Truncate(time.Second)
	return i, nil
}

// GetIdentity returns identity id of user userID.
func (s *SQL) GetIdentity(ctx context.Context, userID, id string) (Identity, error) {
	return first(ctx, s, "get identity "+id, scanIdentity,
		`SELECT `+identityCols+` FROM identities WHERE user_id = ? AND id = ?`, userID, id)
}

// ListIdentities returns the identities of user userID matching f, oldest
// first.
func (s *SQL) ListIdentities(ctx context.Context, userID string, f IdentityFilter) ([]Identity, error) {
	q, args := `SELECT `+identityCols+` FROM identities WHERE user_id = ?`, []any{userID}
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	if f.Protocol != "" {
		q += ` AND protocol = ?`
		args = append(args, f.Protocol)
	}
	return all(ctx, s, "list identities", scanIdentity, q+` ORDER BY created_at, id`, args...)
}

// LookupIdentities returns every identity, of any user, with this protocol
// and identifier (compared lowercased). It is the recipient lookup of
// inbound mail: a system read that crosses users.
func (s *SQL) LookupIdentities(ctx context.Context, protocol, identifier string) ([]Identity, error) {
	return all(ctx, s, "lookup identities", scanIdentity,
		`SELECT `+identityCols+` FROM identities WHERE protocol = ? AND identifier = ? ORDER BY created_at, id`,
		protocol, strings.ToLower(strings.TrimSpace(identifier)))
}

// UpdateIdentity replaces the profile of an identity: display name, status,
// poll interval and infos. Type, protocol, identifier, credentials and sync
// state are left alone (they have their own methods), so an API edit never
// overwrites what a worker just wrote. orders are stored with the change.
func (s *SQL) UpdateIdentity(ctx context.Context, i Identity, orders ...Order) (Identity, error) {
	op := "update identity " + i.ID
	if err := i.check(op); err != nil {
		return Identity{}, err
	}
	if err := checkOrders(op, orders); err != nil {
		return Identity{}, err
	}
	err := s.withOrders(ctx, orders, func(cn conn) error {
		return cn.one(ctx, `UPDATE identities SET display_name = ?, status = ?, poll_interval_s = ?, infos = ?,
		updated_at = ? WHERE user_id = ? AND id = ?`,
			i.DisplayName, i.Status, int64(i.PollInterval/time.Second), jsonMap(i.Infos), micros(s.stamp()),
			i.UserID, i.ID)
	})
	if err != nil {
		return Identity{}, s.fail(op, err)
	}
	return s.GetIdentity(ctx, i.UserID, i.ID)
}

// DeleteIdentity deletes an identity and its schedule, and stores orders
// with the change.
func (s *SQL) DeleteIdentity(ctx context.Context, userID, id string, orders ...Order) error {
	op := "delete identity " + id
	if err := checkOrders(op, orders); err != nil {
		return err
	}
	err := s.withOrders(ctx, orders, func(cn conn) error {
		return cn.one(ctx, `DELETE FROM identities WHERE user_id = ? AND id = ?`, userID, id)
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// SetCredentials replaces the sealed credentials of an identity; the zero
// Sealed removes them. Only sealed values are accepted: the database never
// holds a password in clear.
func (s *SQL) SetCredentials(ctx context.Context, userID, identityID string, c secrets.Sealed) error {
	err := s.write().one(ctx, `UPDATE identities SET credentials = ?, credentials_key_id = ?, updated_at = ?
		WHERE user_id = ? AND id = ?`, c.Bytes(), c.KeyID(), micros(s.stamp()), userID, identityID)
	if err != nil {
		return s.fail("set credentials of identity "+identityID, err)
	}
	return nil
}
