package store

import (
	"context"
	"fmt"
	"time"
)

// User is an account. Simplified from the original: no ES shard, no
// local_identities list (ListIdentities gives them), no privacy features;
// the password hash is kept here rather than in a separate auth service.
type User struct {
	ID   string
	Name string // login name, unique
	// PasswordHash is an encoded password hash (the API chooses the
	// algorithm); the store never sees a password.
	PasswordHash  string
	IsAdmin       bool
	RecoveryEmail string // where the admin's mails to this user go
	GivenName     string
	FamilyName    string
	ContactID     string // the user's own contact, "" if none
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Users manages accounts.
type Users interface {
	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByName(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context, p Page) ([]User, string, error)
	UpdateUser(ctx context.Context, u User) (User, error)
	SetPasswordHash(ctx context.Context, id, hash string) error
	DeleteUser(ctx context.Context, id string) error
}

const userCols = `id, name, password_hash, is_admin, recovery_email, given_name, family_name, contact_id, created_at, updated_at`

func scanUser(r scanner) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.IsAdmin, &u.RecoveryEmail, &u.GivenName,
		&u.FamilyName, &u.ContactID, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

// CreateUser stores a new user; an empty ID gets a fresh one. A name already
// taken gives ErrConflict, unless u.ID names the user holding it: then the
// call is a repeat and returns the stored user.
func (s *SQL) CreateUser(ctx context.Context, u User) (User, error) {
	const op = "create user"
	if u.Name == "" {
		return User{}, invalid(op, "name is required")
	}
	u.ID = orNewID(u.ID)
	now := s.stamp()
	u.CreatedAt, u.UpdatedAt = now, now
	_, err := s.write().exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Name, u.PasswordHash, u.IsAdmin, u.RecoveryEmail, u.GivenName, u.FamilyName, u.ContactID,
		micros(u.CreatedAt), micros(u.UpdatedAt))
	if err != nil {
		return repeated(s.fail(op, err), func() (User, error) { return s.GetUser(ctx, u.ID) },
			func(got User) bool { return got.Name == u.Name })
	}
	return u, nil
}

// GetUser returns the user with the given id.
func (s *SQL) GetUser(ctx context.Context, id string) (User, error) {
	return first(ctx, s, "get user "+id, scanUser, `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

// GetUserByName returns the user with the given login name.
func (s *SQL) GetUserByName(ctx context.Context, name string) (User, error) {
	return first(ctx, s, fmt.Sprintf("get user %q", name),
		scanUser, `SELECT `+userCols+` FROM users WHERE name = ?`, name)
}

// ListUsers lists users by name.
func (s *SQL) ListUsers(ctx context.Context, p Page) ([]User, string, error) {
	return list(ctx, s.read(), s, p, listQuery[User]{
		op:     "list users",
		query:  `SELECT ` + userCols + ` FROM users WHERE TRUE`,
		after:  `(name, id) > (?, ?)`,
		order:  `ORDER BY name, id`,
		scan:   scanUser,
		cursor: func(u User) string { return encodeCursor(u.Name, u.ID) },
	})
}

// UpdateUser replaces the profile fields of u (name, admin flag, recovery
// address, names, contact id); the password hash is changed only by
// SetPasswordHash.
func (s *SQL) UpdateUser(ctx context.Context, u User) (User, error) {
	op := "update user " + u.ID
	if u.Name == "" {
		return User{}, invalid(op, "name is required")
	}
	err := s.write().one(ctx, `UPDATE users SET name = ?, is_admin = ?, recovery_email = ?, given_name = ?,
		family_name = ?, contact_id = ?, updated_at = ? WHERE id = ?`,
		u.Name, u.IsAdmin, u.RecoveryEmail, u.GivenName, u.FamilyName, u.ContactID, micros(s.stamp()), u.ID)
	if err != nil {
		return User{}, s.fail(op, err)
	}
	return s.GetUser(ctx, u.ID)
}

// SetPasswordHash replaces the password hash of user id.
func (s *SQL) SetPasswordHash(ctx context.Context, id, hash string) error {
	err := s.write().one(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`,
		hash, micros(s.stamp()), id)
	if err != nil {
		return s.fail("set password of user "+id, err)
	}
	return nil
}

// DeleteUser deletes the user and everything the user owns.
func (s *SQL) DeleteUser(ctx context.Context, id string) error {
	if err := s.write().one(ctx, `DELETE FROM users WHERE id = ?`, id); err != nil {
		return s.fail("delete user "+id, err)
	}
	return nil
}
