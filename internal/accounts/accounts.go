// Package accounts manages the API's accounts: users with a bcrypt password
// hash and a local e-mail identity, password authentication, and login
// sessions held by opaque bearer tokens.
//
// A user's local identity is the address <name>@<LocalDomain>, type local,
// protocol "email" as in the original (caliopen-original.md §10.1): the
// recipient lookup of inbound mail finds it under that protocol, and the API
// routes a draft sent from any local identity to outboundSMTP by its type.
//
// A token is 32 random bytes in unpadded base64url (43 characters). The
// store keeps only its SHA-256 (hex) with the user id and the expiry, so a
// copy of the database opens no session. Verify accepts a token until its
// expiry; Logout ends it at once.
//
// Failure semantics: Authenticate and Login return ErrBadCredentials for an
// unknown user and for a wrong password alike, after the same bcrypt work,
// so neither the answer nor its timing tells which. Verify and Logout return
// ErrBadToken for a malformed, unknown, expired or ended token. CreateUser
// returns an *InvalidError listing every rule the input breaks, or an error
// matching store.ErrConflict when the name or the local address is taken
// (nothing is left behind then). Other errors come from the store.
package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/store"
)

// Defaults of Config.
const (
	// DefaultTokenTTL is how long a session lasts when Config.TokenTTL is 0.
	DefaultTokenTTL = 24 * time.Hour
	// DefaultBcryptCost is the bcrypt cost when Config.BcryptCost is 0.
	DefaultBcryptCost = bcrypt.DefaultCost
)

var (
	// ErrBadCredentials reports an unknown user or a wrong password.
	ErrBadCredentials = errors.New("accounts: unknown user or wrong password")
	// ErrBadToken reports a malformed, unknown, expired or ended token.
	ErrBadToken = errors.New("accounts: invalid or expired token")
)

// InvalidError lists the rules a new account breaks.
type InvalidError struct {
	Problems []string
}

// Error joins the problems.
func (e *InvalidError) Error() string {
	return "invalid account: " + strings.Join(e.Problems, "; ")
}

// Config configures the accounts.
type Config struct {
	// LocalDomain is the domain of local addresses (<name>@LocalDomain).
	// Required.
	LocalDomain string
	// BcryptCost is the cost of new password hashes, bcrypt.MinCost (4) to
	// bcrypt.MaxCost (31). Default DefaultBcryptCost (10).
	BcryptCost int
	// TokenTTL is the lifetime of a session. Default DefaultTokenTTL (24h).
	TokenTTL time.Duration
}

// Store is what the accounts need of the store.
type Store interface {
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByName(ctx context.Context, name string) (store.User, error)
	DeleteUser(ctx context.Context, id string) error
	CreateIdentity(ctx context.Context, id store.Identity, orders ...store.Order) (store.Identity, error)
	store.Sessions
}

// Service manages accounts. It is safe for concurrent use.
type Service struct {
	cfg   Config
	st    Store
	dummy func() []byte // a hash compared against when the user is unknown
	now   func() time.Time
	rand  io.Reader
}

// New checks cfg, fills its defaults and returns the service. The decoy
// hash of the unknown-user path is computed at its first use rather than
// here: a bcrypt hash would be most of a function's cold start.
func New(cfg Config, st Store) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("accounts: nil store")
	}
	cost := cfg.BcryptCost
	dummy := sync.OnceValue(func() []byte {
		// A random password nobody knows; the cost was validated above, and
		// crypto/rand does not fail, so the hash always exists.
		h, _ := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
		return h
	})
	return &Service{cfg: cfg, st: st, dummy: dummy, now: time.Now, rand: rand.Reader}, nil
}

// Validate reports every problem of cfg at once.
func (cfg Config) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

// withDefaults validates cfg, reporting every problem at once, and sets the
// defaults of zero fields.
func (cfg Config) withDefaults() (Config, error) {
	var errs []error
	cfg.LocalDomain = strings.ToLower(strings.TrimSpace(cfg.LocalDomain))
	if err := checkDomain(cfg.LocalDomain); err != nil {
		errs = append(errs, fmt.Errorf("local domain: %w", err))
	}
	switch {
	case cfg.BcryptCost == 0:
		cfg.BcryptCost = DefaultBcryptCost
	case cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost:
		errs = append(errs, fmt.Errorf("bcrypt cost %d is outside %d..%d", cfg.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	switch {
	case cfg.TokenTTL == 0:
		cfg.TokenTTL = DefaultTokenTTL
	case cfg.TokenTTL < 0:
		errs = append(errs, fmt.Errorf("token TTL %s is negative", cfg.TokenTTL))
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("accounts: %w", err)
	}
	return cfg, nil
}

// LocalDomain returns the domain of local addresses, lowercased.
func (s *Service) LocalDomain() string { return s.cfg.LocalDomain }
