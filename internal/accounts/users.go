package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/store"
)

// NewUser is what creating an account takes.
type NewUser struct {
	Name          string // login name and local part of the local address
	Password      string // MinPasswordBytes to MaxPasswordBytes bytes
	IsAdmin       bool
	RecoveryEmail string // optional: where the admin's mails go
	GivenName     string
	FamilyName    string
}

// problems lists every rule n breaks, after normalising its name.
func (n *NewUser) problems() []string {
	n.Name = NormalizeName(n.Name)
	n.RecoveryEmail = strings.TrimSpace(n.RecoveryEmail)
	var out []string
	if p := checkName(n.Name); p != "" {
		out = append(out, p)
	}
	if p := checkPassword(n.Password); p != "" {
		out = append(out, p)
	}
	if n.RecoveryEmail != "" {
		if err := CheckAddress(n.RecoveryEmail); err != nil {
			out = append(out, "recovery address "+err.Error())
		}
	}
	return out
}

// LocalAddress returns the local address of the user named name.
func (s *Service) LocalAddress(name string) string {
	return NormalizeName(name) + "@" + s.cfg.LocalDomain
}

// CreateUser creates the user with a bcrypt hash of its password, and its
// local identity <name>@<local domain> (type local, protocol "email",
// active). When the identity cannot be created the user is removed again.
func (s *Service) CreateUser(ctx context.Context, n NewUser) (store.User, store.Identity, error) {
	if p := n.problems(); len(p) > 0 {
		return store.User{}, store.Identity{}, &InvalidError{Problems: p}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(n.Password), s.cfg.BcryptCost)
	if err != nil {
		return store.User{}, store.Identity{}, fmt.Errorf("hash password of %s: %w", n.Name, err)
	}
	u, err := s.st.CreateUser(ctx, store.User{Name: n.Name, PasswordHash: string(hash), IsAdmin: n.IsAdmin,
		RecoveryEmail: n.RecoveryEmail, GivenName: n.GivenName, FamilyName: n.FamilyName})
	if err != nil {
		return store.User{}, store.Identity{}, fmt.Errorf("create user %s: %w", n.Name, err)
	}
	display := strings.TrimSpace(n.GivenName + " " + n.FamilyName)
	if display == "" {
		display = n.Name
	}
	id, err := s.st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: s.LocalAddress(n.Name), DisplayName: display})
	if err != nil {
		err = fmt.Errorf("create local identity %s: %w", s.LocalAddress(n.Name), err)
		if derr := s.st.DeleteUser(ctx, u.ID); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove user %s again: %w", u.ID, derr))
		}
		return store.User{}, store.Identity{}, err
	}
	return u, id, nil
}
