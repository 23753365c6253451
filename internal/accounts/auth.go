package accounts

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/internal/store"
)

// TokenBytes is the number of random bytes in a token.
const TokenBytes = 32

// tokenLen is the length of an encoded token.
var tokenLen = base64.RawURLEncoding.EncodedLen(TokenBytes)

// Session is an open login session.
type Session struct {
	// Token is the bearer token; it is shown once and never stored.
	Token     string
	ExpiresAt time.Time
	User      store.User
}

// Authenticate checks a user's password. An unknown user and a wrong
// password both give ErrBadCredentials after one bcrypt comparison.
func (s *Service) Authenticate(ctx context.Context, name, password string) (store.User, error) {
	u, err := s.st.GetUserByName(ctx, NormalizeName(name))
	switch {
	case errors.Is(err, store.ErrNotFound):
		_ = bcrypt.CompareHashAndPassword(s.dummy(), []byte(password)) // same work as a known user
		return store.User{}, ErrBadCredentials
	case err != nil:
		return store.User{}, fmt.Errorf("authenticate: %w", err)
	}
	hash := []byte(u.PasswordHash)
	if u.PasswordHash == "" {
		hash = s.dummy() // an account without a password cannot log in
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u.PasswordHash == "" {
		return store.User{}, ErrBadCredentials
	}
	return u, nil
}

// Login authenticates the user and opens a session of Config.TokenTTL.
func (s *Service) Login(ctx context.Context, name, password string) (Session, error) {
	u, err := s.Authenticate(ctx, name, password)
	if err != nil {
		return Session{}, err
	}
	raw := make([]byte, TokenBytes)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return Session{}, fmt.Errorf("login: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	ses, err := s.st.CreateSession(ctx, store.Session{TokenHash: HashToken(token), UserID: u.ID,
		ExpiresAt: s.now().Add(s.cfg.TokenTTL)})
	if err != nil {
		return Session{}, fmt.Errorf("login: %w", err)
	}
	return Session{Token: token, ExpiresAt: ses.ExpiresAt, User: u}, nil
}

// Verify returns the user of a token's session.
func (s *Service) Verify(ctx context.Context, token string) (store.User, error) {
	if !wellFormed(token) {
		return store.User{}, ErrBadToken
	}
	u, err := s.st.SessionUser(ctx, HashToken(token), s.now())
	if err != nil {
		return store.User{}, badToken("verify token", err)
	}
	return u, nil
}

// Logout ends a token's session.
func (s *Service) Logout(ctx context.Context, token string) error {
	if !wellFormed(token) {
		return ErrBadToken
	}
	return badToken("logout", s.st.DeleteSession(ctx, HashToken(token)))
}

// HashToken returns what the store keeps of a token: its SHA-256 in hex.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether token has the shape of a token.
func wellFormed(token string) bool {
	if len(token) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// badToken maps a missing session or user onto ErrBadToken and wraps other
// errors with op; nil stays nil.
func badToken(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return ErrBadToken
	}
	return fmt.Errorf("%s: %w", op, err)
}
