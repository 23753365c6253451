// Package mastoaccount opens a Mastodon client API client for a remote
// mastodon identity: the instance URL from its infos ("url", the
// original's key), the OAuth 2.0 access token from its sealed credentials
// ("oauth2accesstoken", the original's key), every connection through the
// egress guard (internal/netguard: an instance on a private address is
// refused unless the operator allowed it in CALIOPEN_EGRESS_ALLOW).
//
// A token the instance refuses (401: revoked, expired) makes NeedsReauth
// true: the user must authorize the account again. Mastodon's tokens have
// no refresh token; none is renewed.
package mastoaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Infos keys of a mastodon identity (the original's).
const (
	InfoURL      = "url"         // the instance URL
	InfoID       = "mastodon_id" // the account's id on its instance
	InfoUsername = "username"    // its username
	InfoAuthType = "authtype"    // "oauth2"
)

// KeyAccessToken is the credentials' key of the access token.
const KeyAccessToken = oauth2creds.KeyAccessToken

// EnvTimeout bounds one call to an instance (default mastoapi.DefaultTimeout).
const EnvTimeout = "MASTODON_API_TIMEOUT"

// Config is how the bridge reaches instances.
type Config struct {
	Timeout time.Duration
	Guard   netguard.Guard
}

// LoadConfig reads Config from the environment (the egress guard's
// CALIOPEN_EGRESS_ALLOW included), every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{Timeout: mastoapi.DefaultTimeout}
	g, err := netguard.Load(getenv)
	cfg.Guard = g
	return cfg, errors.Join(err, envconf.PositiveDuration(getenv, EnvTimeout, &cfg.Timeout))
}

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Dialer makes the clients of one function: one guarded HTTP client (its
// connections reused across accounts).
type Dialer struct {
	cfg  Config
	http *http.Client
}

// NewDialer returns the dialer of cfg.
func NewDialer(cfg Config) *Dialer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = mastoapi.DefaultTimeout
	}
	return &Dialer{cfg: cfg, http: cfg.Guard.Client(netguard.ClientConfig{Timeout: cfg.Timeout})}
}

// Client returns a client of instance base with token tok.
func (d *Dialer) Client(base, tok string) (*mastoapi.Client, error) {
	c, err := mastoapi.New(mastoapi.Config{BaseURL: base, Token: tok, HTTP: d.http})
	if err != nil {
		return nil, faults.Perm(err)
	}
	return c, nil
}

// Open returns a client authenticated as identity ident. Errors are
// classified: credentials or instance URL missing or unusable are
// permanent.
func (d *Dialer) Open(ident store.Identity, keys Opener) (*mastoapi.Client, error) {
	if ident.Credentials.IsZero() {
		return nil, faults.Perm(fmt.Errorf("identity %s has no credentials", ident.ID))
	}
	plain, err := keys.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return nil, faults.Perm(fmt.Errorf("open the credentials of identity %s: %w", ident.ID, err))
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, faults.Perm(fmt.Errorf("credentials of identity %s are not a JSON object", ident.ID))
	}
	tok := creds[KeyAccessToken]
	if tok == "" {
		return nil, faults.Perm(fmt.Errorf("identity %s has no access token", ident.ID))
	}
	c, err := d.Client(ident.Infos[InfoURL], tok)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", ident.ID, err)
	}
	return c, nil
}

// NeedsReauth says err means that only the user can make the account work
// again: the instance refuses its token.
func NeedsReauth(err error) bool { return mastoapi.IsAuth(err) }

// InfosStore records what was learnt of the account; *store.SQL is one.
type InfosStore interface {
	SetIdentityInfos(ctx context.Context, userID, identityID string, set map[string]string) error
}

// Who asks the instance for the account (it verifies the token) and
// records its id and username on the identity when they changed.
func Who(ctx context.Context, c *mastoapi.Client, ident store.Identity, st InfosStore) (mastoapi.Account, error) {
	me, _, err := c.VerifyCredentials(ctx)
	if err != nil {
		return mastoapi.Account{}, fmt.Errorf("identify the account of identity %s: %w", ident.ID, err)
	}
	if me.ID != ident.Infos[InfoID] || me.Username != ident.Infos[InfoUsername] {
		if err := st.SetIdentityInfos(ctx, ident.UserID, ident.ID, map[string]string{InfoID: me.ID, InfoUsername: me.Username}); err != nil {
			return mastoapi.Account{}, fmt.Errorf("record the mastodon account of identity %s: %w", ident.ID, err)
		}
	}
	return me, nil
}
