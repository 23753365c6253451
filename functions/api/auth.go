package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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
	// Throttled attempts cost no bcrypt work.
	attempt, wait := s.throttle.Begin(accounts.NormalizeName(in.Username), clientAddr(c.r, s.cfg.TrustedProxyHops))
	if attempt == nil {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return &apiError{status: http.StatusTooManyRequests, code: "throttled",
			msg: fmt.Sprintf("too many failed logins; retry in %d seconds", secs)}
	}
	ses, err := s.accounts.Login(c.ctx, in.Username, in.Password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		attempt.Failed()
		return &apiError{status: http.StatusUnauthorized, code: "bad_credentials", msg: "unknown user or wrong password"}
	}
	attempt.Succeeded() // a store failure is no guess either
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

// clientAddr is the address of the client: the connection's, or with hops
// trusted proxies in front, the one the outermost proxy saw (from the right
// of X-Forwarded-For, which each proxy appends to). The zero Addr when none
// can be read.
func clientAddr(r *http.Request, hops int) netip.Addr {
	remote, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		remote = r.RemoteAddr
	}
	addr := remote
	if hops > 0 {
		var seen []string
		for _, h := range r.Header.Values("X-Forwarded-For") {
			for _, a := range strings.Split(h, ",") {
				seen = append(seen, strings.TrimSpace(a))
			}
		}
		if len(seen) >= hops {
			addr = seen[len(seen)-hops]
		}
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}
	}
	return a
}
