// Package xaccount opens an X API client for a remote twitter identity:
// it reads the identity's sealed credentials and authenticates as the
// account, with OAuth 2.0 (infos authtype oauth2: the access token,
// renewed through its refresh token by internal/oauth2creds, provider
// "twitter") or OAuth 1.0a (credentials token and secret, the original's
// keys, with the platform application's consumer key and secret).
//
// An OAuth 2.0 access token that X refuses (401) before its stated expiry
// (revoked, or the clocks disagree) is renewed once through the refresh
// token, stored, and the request sent again. A refresh token the provider
// refuses, or credentials X still refuses, make NeedsReauth true: the
// user must authorize the account again.
//
// It also reads and records the account's X user id and username in the
// identity's infos (twitterid and screen_name, the original's keys).
package xaccount

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

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

// Tokens renews OAuth2 access tokens: before a call when they are about to
// expire (Fresh), after X refused one (Renew). *oauth2creds.Refresher is
// one.
type Tokens interface {
	oauth2creds.Freshener
	Renew(ctx context.Context, ident store.Identity) (store.Identity, error)
}

// NeedsReauth says err means that only the user can make the account work
// again: X refuses its credentials, or the provider its refresh token.
func NeedsReauth(err error) bool {
	return errors.Is(err, oauth2creds.ErrReauth) || xapi.IsAuth(err)
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
func Open(ctx context.Context, cfg Config, ident store.Identity, keys Opener, tokens Tokens) (Opened, error) {
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
		rt := &bearer{base: http.DefaultTransport, token: tok}
		if tokens != nil {
			rt.renew = func(ctx context.Context) (string, error) { return renewed(ctx, ident, keys, tokens) }
		}
		hc = &http.Client{Transport: rt, Timeout: base.Timeout}
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

// bearer sends an OAuth 2.0 access token with each request and, the first
// time X refuses it (401), renews it and sends the request again.
type bearer struct {
	base  http.RoundTripper
	renew func(ctx context.Context) (string, error) // nil: no renewal

	mu      sync.Mutex
	token   string
	renewed bool
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	b.mu.Lock()
	tok := b.token
	b.mu.Unlock()
	resp, err := b.base.RoundTrip(authorized(req, tok, nil))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || b.renew == nil || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	b.mu.Lock()
	if b.token == tok && !b.renewed { // once per account opened; a concurrent call may have renewed it
		b.renewed = true
		fresh, rerr := b.renew(req.Context())
		if rerr != nil {
			b.mu.Unlock()
			_ = resp.Body.Close()
			return nil, permanentIf(rerr)
		}
		b.token = fresh
	}
	retry := b.token != tok
	tok = b.token
	b.mu.Unlock()
	if !retry {
		return resp, nil
	}
	var body io.ReadCloser
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return b.base.RoundTrip(authorized(req, tok, body))
}

// authorized is a copy of req with the bearer token (and body, when set).
func authorized(req *http.Request, tok string, body io.ReadCloser) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		r.Body = body
	}
	return r
}

// renewed renews ident's access token (stored by tokens before it is
// returned) and reads it.
func renewed(ctx context.Context, ident store.Identity, keys Opener, tokens Tokens) (string, error) {
	fresh, err := tokens.Renew(ctx, ident)
	if err != nil {
		return "", err
	}
	plain, err := keys.Open(fresh.Credentials, []byte(ident.ID))
	if err != nil {
		return "", faults.Perm(fmt.Errorf("open the renewed credentials of identity %s: %w", ident.ID, err))
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil || creds[oauth2creds.KeyAccessToken] == "" {
		return "", faults.Perm(fmt.Errorf("the renewed credentials of identity %s hold no access token", ident.ID))
	}
	return creds[oauth2creds.KeyAccessToken], nil
}

// permanentErr keeps a permanent renewal failure permanent through the
// HTTP client's *url.Error (xapi reads Permanent).
type permanentErr struct{ error }

func (e permanentErr) Unwrap() error   { return e.error }
func (e permanentErr) Permanent() bool { return true }

func permanentIf(err error) error {
	if faults.IsPermanent(err) {
		return permanentErr{err}
	}
	return err
}
