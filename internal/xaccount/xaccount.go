// Package xaccount opens an X API client for a remote twitter identity:
// it reads the identity's sealed credentials and authenticates as the
// account, with OAuth 2.0 (infos authtype oauth2: the access token,
// renewed through its refresh token by internal/oauth2creds, provider
// "twitter") or OAuth 1.0a (credentials token and secret, the original's
// keys, with the platform application's consumer key and secret).
//
// It also reads and records the account's X user id and username in the
// identity's infos (twitterid and screen_name, the original's keys).
package xaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secretenv"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xapi"
)

// Infos keys the bridge records on the identity.
const (
	InfoUserID   = "twitterid"
	InfoUsername = "screen_name"
)

// Credential keys of OAuth 1.0a accounts.
const (
	KeyToken  = "token"
	KeySecret = "secret"
)

// Environment variables read by LoadConfig.
const (
	EnvAPIURL    = "TWITTER_API_URL"    // default https://api.x.com
	EnvAppKey    = "TWITTER_APP_KEY"    // the OAuth 1.0a consumer key
	EnvAppSecret = "TWITTER_APP_SECRET" // its secret (or _FILE)
	EnvTimeout   = "TWITTER_API_TIMEOUT"
)

// Config is how the bridge reaches X.
type Config struct {
	BaseURL           string
	AppKey, AppSecret string
	Timeout           time.Duration
}

// LoadConfig reads Config from the environment, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{BaseURL: strings.TrimSpace(getenv(EnvAPIURL)), AppKey: strings.TrimSpace(getenv(EnvAppKey)),
		Timeout: xapi.DefaultTimeout}
	if cfg.BaseURL == "" {
		cfg.BaseURL = xapi.DefaultBaseURL
	}
	var errs []error
	secret, err := secretenv.Value(getenv, EnvAppSecret)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.AppSecret = strings.TrimSpace(secret)
	errs = append(errs, envconf.PositiveDuration(getenv, EnvTimeout, &cfg.Timeout))
	if !strings.HasPrefix(cfg.BaseURL, "https://") && !strings.HasPrefix(cfg.BaseURL, "http://") {
		errs = append(errs, fmt.Errorf("%s=%q: not an http(s) URL", EnvAPIURL, cfg.BaseURL))
	}
	return cfg, errors.Join(errs...)
}

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Opened is an account ready to call: its identity (with renewed
// credentials when they were) and client.
type Opened struct {
	Ident  store.Identity
	Client *xapi.Client
}

// Open returns a client authenticated as identity ident. Errors are
// classified: credentials missing or unusable, or a refused token renewal,
// are permanent (the user must authorize again), the rest temporary.
func Open(ctx context.Context, cfg Config, ident store.Identity, keys Opener, tokens oauth2creds.Freshener) (Opened, error) {
	if ident.Credentials.IsZero() {
		return Opened{}, faults.Perm(fmt.Errorf("identity %s has no credentials", ident.ID))
	}
	if oauth2creds.IsOAuth2(ident) && tokens != nil {
		fresh, err := tokens.Fresh(ctx, ident)
		if err != nil {
			return Opened{}, err
		}
		ident = fresh
	}
	plain, err := keys.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return Opened{}, faults.Perm(fmt.Errorf("open the credentials of identity %s: %w", ident.ID, err))
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return Opened{}, faults.Perm(fmt.Errorf("credentials of identity %s are not a JSON object", ident.ID))
	}
	base := &http.Client{Timeout: cfg.Timeout}
	var hc *http.Client
	switch {
	case oauth2creds.IsOAuth2(ident):
		tok := creds[oauth2creds.KeyAccessToken]
		if tok == "" {
			return Opened{}, faults.Perm(fmt.Errorf("identity %s has no OAuth2 access token", ident.ID))
		}
		hc, _ = xapi.OAuth2Client(ctx, &oauth2.Token{AccessToken: tok, TokenType: "Bearer"}, nil, base)
	case creds[KeyToken] != "" && creds[KeySecret] != "":
		if cfg.AppKey == "" || cfg.AppSecret == "" {
			return Opened{}, faults.Perm(fmt.Errorf("identity %s uses OAuth 1.0a and %s or %s is not set",
				ident.ID, EnvAppKey, EnvAppSecret))
		}
		hc = xapi.OAuth1Client(ctx, cfg.AppKey, cfg.AppSecret, creds[KeyToken], creds[KeySecret], base)
	default:
		return Opened{}, faults.Perm(fmt.Errorf("identity %s has neither an OAuth2 access token nor an OAuth 1.0a token and secret",
			ident.ID))
	}
	c, err := xapi.New(xapi.Config{BaseURL: cfg.BaseURL, HTTP: hc})
	if err != nil {
		return Opened{}, faults.Perm(err)
	}
	return Opened{Ident: ident, Client: c}, nil
}

// InfosStore records what was learnt of the account; *store.SQL is one.
type InfosStore interface {
	SetIdentityInfos(ctx context.Context, userID, identityID string, set map[string]string) error
}

// Who returns the account's X user: from the identity's infos, else asked
// of X (GET /2/users/me) and recorded. check asks X even when known (it
// verifies the credentials).
func Who(ctx context.Context, o Opened, st InfosStore, check bool) (xapi.User, error) {
	id, name := o.Ident.Infos[InfoUserID], o.Ident.Infos[InfoUsername]
	if !check && xapi.IsID(id) && name != "" {
		return xapi.User{ID: id, Username: name}, nil
	}
	me, _, err := o.Client.Me(ctx)
	if err != nil {
		return xapi.User{}, fmt.Errorf("identify the account of identity %s: %w", o.Ident.ID, err)
	}
	if me.ID != id || me.Username != name {
		if err := st.SetIdentityInfos(ctx, o.Ident.UserID, o.Ident.ID,
			map[string]string{InfoUserID: me.ID, InfoUsername: me.Username}); err != nil {
			return xapi.User{}, fmt.Errorf("record the X account of identity %s: %w", o.Ident.ID, err)
		}
	}
	return me, nil
}
