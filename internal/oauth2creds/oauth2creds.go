// Package oauth2creds keeps the OAuth2 access tokens of remote identities
// fresh. An identity whose infos say authtype Oauth2 logs in with XOAUTH2
// and the access token stored in its sealed credentials; such tokens
// expire (Gmail's after an hour). Before a login, Fresh renews a token
// that expires within the margin through the provider's token endpoint
// and the stored refresh token, and stores the new credentials, sealed,
// as the original did for Gmail (caliopen-original.md §5).
//
// Credential keys are the original's: oauth2accesstoken, oauh2refreshtoken
// (sic; oauth2refreshtoken is read too), tokentype, tokenexpiry (RFC 3339),
// username. Providers are configured from the environment:
//
//	OAUTH2_PROVIDERS                    names, comma separated (default gmail)
//	OAUTH2_<NAME>_CLIENT_ID             the application's client id
//	OAUTH2_<NAME>_CLIENT_SECRET(_FILE)  its secret
//	OAUTH2_<NAME>_TOKEN_URL             default https://oauth2.googleapis.com/token for gmail,
//	                                    https://api.x.com/2/oauth2/token for twitter
//	OAUTH2_<NAME>_AUTH_STYLE            how the client authenticates to the token endpoint:
//	                                    "header" (HTTP Basic) or "params" (client_id, and
//	                                    client_secret when set, in the form body)
//
// The default AUTH_STYLE is each provider's documented one: X's OAuth 2.0
// reference has a confidential client (one with a secret) authenticate
// with HTTP Basic and a public client send its client_id in the body;
// Google's and Microsoft's endpoints take the client in the form.
//
// A refresh the provider refuses (the grant is invalid, revoked or
// expired) is ErrReauth: only the user can authorize again. A refusal of
// the client itself (invalid_client, unauthorized_client) is the
// operator's configuration, permanent but not ErrReauth.
package oauth2creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/secretenv"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Credential keys.
const (
	KeyAccessToken  = "oauth2accesstoken"
	KeyRefreshToken = "oauh2refreshtoken" // sic, as the original stores it
	keyRefreshAlt   = "oauth2refreshtoken"
	KeyTokenType    = "tokentype"
	KeyExpiry       = "tokenexpiry"
)

// GoogleTokenURL is gmail's token endpoint.
const GoogleTokenURL = "https://oauth2.googleapis.com/token"

// XTokenURL is X's (provider twitter) token endpoint.
const XTokenURL = "https://api.x.com/2/oauth2/token"

// ErrReauth marks a refresh token the provider refused, or an expired
// access token without one: the user must authorize the account again.
var ErrReauth = errors.New("the account must be authorized again")

// Provider is an OAuth2 application at one provider.
type Provider struct {
	ClientID, ClientSecret, TokenURL string
	// AuthStyle is how the client authenticates to the token endpoint;
	// LoadConfig sets the provider's documented default (DefaultAuthStyle).
	// oauth2.AuthStyleAutoDetect (zero) is taken as that default too.
	AuthStyle oauth2.AuthStyle
}

// DefaultAuthStyle is the client authentication provider name documents:
// for X (twitter) HTTP Basic when the client has a secret (a confidential
// client), else client_id in the body (a public client); for the others
// the form body.
func DefaultAuthStyle(name, clientSecret string) oauth2.AuthStyle {
	if name == "twitter" && clientSecret != "" {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams
}

// parseAuthStyle reads an AUTH_STYLE setting ("" keeps def).
func parseAuthStyle(v string, def oauth2.AuthStyle) (oauth2.AuthStyle, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def, nil
	case "header", "basic":
		return oauth2.AuthStyleInHeader, nil
	case "params", "body":
		return oauth2.AuthStyleInParams, nil
	}
	return def, fmt.Errorf("%q is not header or params", v)
}

// Config lists the providers (by the identity's infos "provider",
// lowercase) and how early a token is renewed.
type Config struct {
	Providers map[string]Provider
	// Margin renews a token that expires within it (default 2 minutes).
	Margin time.Duration
}

// LoadConfig reads the providers from the environment, every problem at
// once. A provider without a client id is left out: its identities then
// fail to refresh with a clear error.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := Config{Providers: map[string]Provider{}, Margin: 2 * time.Minute}
	names := strings.TrimSpace(getenv("OAUTH2_PROVIDERS"))
	if names == "" {
		names = "gmail"
	}
	var errs []error
	for _, name := range strings.Split(names, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		prefix := "OAUTH2_" + strings.ToUpper(name) + "_"
		p := Provider{ClientID: strings.TrimSpace(getenv(prefix + "CLIENT_ID")), TokenURL: strings.TrimSpace(getenv(prefix + "TOKEN_URL"))}
		secret, err := secretenv.Value(getenv, prefix+"CLIENT_SECRET")
		if err != nil {
			errs = append(errs, err)
		}
		p.ClientSecret = strings.TrimSpace(secret)
		style, err := parseAuthStyle(getenv(prefix+"AUTH_STYLE"), DefaultAuthStyle(name, p.ClientSecret))
		if err != nil {
			errs = append(errs, fmt.Errorf("%sAUTH_STYLE: %w", prefix, err))
		}
		p.AuthStyle = style
		if p.TokenURL == "" && name == "gmail" {
			p.TokenURL = GoogleTokenURL
		}
		if p.TokenURL == "" && name == "twitter" {
			p.TokenURL = XTokenURL
		}
		switch {
		case p.ClientID == "":
			continue
		case p.TokenURL == "":
			errs = append(errs, fmt.Errorf("%sTOKEN_URL: required for provider %s", prefix, name))
		case !strings.HasPrefix(p.TokenURL, "https://") && !strings.HasPrefix(p.TokenURL, "http://"):
			errs = append(errs, fmt.Errorf("%sTOKEN_URL: %q is not an http(s) URL", prefix, p.TokenURL))
		}
		cfg.Providers[name] = p
	}
	return cfg, errors.Join(errs...)
}

// Keys seals and opens credentials; *secrets.Keyring is one.
type Keys interface {
	Seal(plaintext, context []byte) (secrets.Sealed, error)
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Store keeps the renewed credentials, and tells a refresh that lost a
// race with another one (X rotates refresh tokens) the credentials that
// one stored; *store.SQL is one.
type Store interface {
	SetCredentials(ctx context.Context, userID, identityID string, c secrets.Sealed) error
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
}

// Freshener is what the functions that log in to remote accounts need:
// *Refresher is one; nil renews nothing.
type Freshener interface {
	Fresh(ctx context.Context, ident store.Identity) (store.Identity, error)
}

// Refresher renews tokens; safe for concurrent use.
type Refresher struct {
	cfg    Config
	keys   Keys
	store  Store
	client *http.Client
	now    func() time.Time
	// renewing holds a *sync.Mutex per identity id: one renewal at a time
	// per identity in this process, since a provider that rotates refresh
	// tokens (X) takes each once.
	renewing sync.Map
}

// New returns a Refresher; client nil means a client with a 15 s timeout.
func New(cfg Config, keys Keys, st Store, client *http.Client) *Refresher {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 2 * time.Minute
	}
	return &Refresher{cfg: cfg, keys: keys, store: st, client: client, now: time.Now}
}

// IsOAuth2 reports whether ident logs in with an OAuth2 token.
func IsOAuth2(ident store.Identity) bool {
	return strings.EqualFold(ident.Infos["authtype"], "oauth2")
}

// Fresh returns ident with an access token valid beyond the margin: as it
// is when it does not use OAuth2 or its token is still valid (or has no
// stated expiry), else with renewed credentials, already stored. Errors
// are classified: a refused grant or no refresh token are permanent and
// ErrReauth (the user must authorize again), an unknown provider or a
// refused client permanent, the rest temporary.
func (r *Refresher) Fresh(ctx context.Context, ident store.Identity) (store.Identity, error) {
	return r.refresh(ctx, ident, false)
}

// Renew renews ident's access token whatever its stated expiry (the API
// refused it before then: revoked, or the clocks disagree), stores the
// new credentials, and returns ident with them; errors as Fresh's.
func (r *Refresher) Renew(ctx context.Context, ident store.Identity) (store.Identity, error) {
	return r.refresh(ctx, ident, true)
}

func (r *Refresher) refresh(ctx context.Context, ident store.Identity, force bool) (store.Identity, error) {
	if !IsOAuth2(ident) || ident.Credentials.IsZero() {
		return ident, nil
	}
	creds, err := r.open(ident)
	if err != nil {
		return ident, err
	}
	expiry, err := time.Parse(time.RFC3339, strings.TrimSpace(creds[KeyExpiry]))
	if !force && (err != nil || expiry.After(r.now().Add(r.cfg.Margin))) {
		return ident, nil // no stated expiry: use the token as it is
	}
	refreshKey := KeyRefreshToken
	if creds[refreshKey] == "" {
		refreshKey = keyRefreshAlt
	}
	if creds[refreshKey] == "" {
		return ident, faults.Perm(fmt.Errorf("the access token of identity %s was refused or expired and there is no refresh token: %w",
			ident.ID, ErrReauth))
	}
	name := strings.ToLower(strings.TrimSpace(ident.Infos["provider"]))
	p, ok := r.cfg.Providers[name]
	if !ok {
		return ident, faults.Perm(fmt.Errorf("identity %s: no OAuth2 client configured for provider %q (OAUTH2_%s_CLIENT_ID)",
			ident.ID, name, strings.ToUpper(name)))
	}
	if p.AuthStyle == oauth2.AuthStyleAutoDetect {
		p.AuthStyle = DefaultAuthStyle(name, p.ClientSecret)
	}
	mu, _ := r.renewing.LoadOrStore(ident.ID, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	// A renewal of this process that held the lock before may have stored
	// a new pair: use it rather than spend the old refresh token.
	if cur, ok := r.renewedSince(ctx, ident); ok {
		return cur, nil
	}
	tok, err := r.renew(ctx, p, creds[refreshKey])
	if errors.Is(err, ErrReauth) {
		// Another holder (another replica) may have renewed first with
		// the same refresh token (X rotates them) and be storing its
		// pair now: its stored pair is the good one. Wait a little for it.
	wait:
		for wait := 100 * time.Millisecond; wait <= 800*time.Millisecond; wait *= 2 {
			if cur, ok := r.renewedSince(ctx, ident); ok {
				return cur, nil
			}
			select {
			case <-ctx.Done():
				break wait
			case <-time.After(wait):
			}
		}
	}
	if err != nil {
		return ident, fmt.Errorf("renew the access token of identity %s at %s: %w", ident.ID, name, err)
	}
	creds[KeyAccessToken] = tok.AccessToken
	if tok.TokenType != "" {
		creds[KeyTokenType] = tok.TokenType
	}
	creds[KeyExpiry] = ""
	if !tok.Expiry.IsZero() {
		creds[KeyExpiry] = tok.Expiry.UTC().Format(time.RFC3339)
	}
	if tok.RefreshToken != "" {
		creds[refreshKey] = tok.RefreshToken
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return ident, err
	}
	sealed, err := r.keys.Seal(b, []byte(ident.ID))
	if err != nil {
		return ident, fmt.Errorf("seal the renewed credentials of identity %s: %w", ident.ID, err)
	}
	// Stored before it is used: a crash after the provider rotated the
	// refresh token must not leave the old, now dead, one behind.
	if err := r.store.SetCredentials(ctx, ident.UserID, ident.ID, sealed); err != nil {
		return ident, fmt.Errorf("store the renewed credentials of identity %s: %w", ident.ID, err)
	}
	ident.Credentials = sealed
	return ident, nil
}

// open reads ident's credentials.
func (r *Refresher) open(ident store.Identity) (map[string]string, error) {
	plain, err := r.keys.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return nil, faults.Perm(fmt.Errorf("open the credentials of identity %s: %w", ident.ID, err))
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, faults.Perm(fmt.Errorf("credentials of identity %s are not a JSON object", ident.ID))
	}
	return creds, nil
}

// renew asks p's token endpoint for a new token with refresh. A refused
// grant (a 4xx other than the client's own refusal) is ErrReauth.
func (r *Refresher) renew(ctx context.Context, p Provider, refresh string) (*oauth2.Token, error) {
	conf := oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: p.TokenURL, AuthStyle: p.AuthStyle}}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, r.client)
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Unix(1, 0)}).Token()
	if err == nil {
		return tok, nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil || re.Response.StatusCode >= 500 || re.Response.StatusCode == http.StatusTooManyRequests {
		return nil, faults.Temp(err)
	}
	if clientRefused(re) {
		return nil, faults.Perm(fmt.Errorf("the token endpoint refused the client (check OAUTH2_*_CLIENT_ID, _SECRET, _AUTH_STYLE): %w", err))
	}
	return nil, faults.Perm(fmt.Errorf("%w: %w", ErrReauth, err))
}

// clientRefused says the token endpoint refused the client rather than the
// grant (RFC 6749 §5.2: invalid_client, unauthorized_client; a 401).
func clientRefused(re *oauth2.RetrieveError) bool {
	switch re.ErrorCode {
	case "invalid_client", "unauthorized_client":
		return true
	case "invalid_grant":
		return false
	}
	return re.Response.StatusCode == http.StatusUnauthorized
}

// renewedSince returns the identity as stored when its credentials are no
// longer those of ident: someone renewed them meanwhile.
func (r *Refresher) renewedSince(ctx context.Context, ident store.Identity) (store.Identity, bool) {
	cur, err := r.store.GetIdentity(ctx, ident.UserID, ident.ID)
	if err != nil || cur.Credentials.IsZero() || bytes.Equal(cur.Credentials.Bytes(), ident.Credentials.Bytes()) {
		return ident, false
	}
	return cur, true
}
