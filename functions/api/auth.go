package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caliopen/functions/internal/accounts"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginAnswer struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
}

// login opens a session: POST /api/v2/authentications.
func (s *server) login(w http.ResponseWriter, c *call) error {
	var in loginRequest
	if err := s.decode(w, c, &in); err != nil {
		return err
	}
	var p problems
	p.require(in.Username != "", "username")
	p.require(in.Password != "", "password")
	if err := p.err(); err != nil {
		return err
	}
	ses, err := s.accounts.Login(c.ctx, in.Username, in.Password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		return &apiError{status: http.StatusUnauthorized, code: "bad_credentials", msg: "unknown user or wrong password"}
	}
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	c.rec.userID = ses.User.ID
	return reply(w, http.StatusOK, loginAnswer{AccessToken: ses.Token, TokenType: "Bearer", ExpiresAt: ses.ExpiresAt,
		UserID: ses.User.ID, Username: ses.User.Name})
}

// logout ends the caller's session: DELETE /api/v2/authentications.
func (s *server) logout(w http.ResponseWriter, c *call) error {
	token, _ := bearer(c.r) // authorize checked it
	if err := s.accounts.Logout(c.ctx, token); err != nil {
		return authError(err)
	}
	return noContent(w)
}

// me describes the caller: GET /api/v2/me.
func (s *server) me(w http.ResponseWriter, c *call) error {
	return reply(w, http.StatusOK, viewUser(c.user))
}
