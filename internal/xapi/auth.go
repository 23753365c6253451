package xapi

import (
	"context"
	"net/http"
	"time"

	"github.com/dghubble/oauth1"
	"golang.org/x/oauth2"
)

// TokenPath is the X API's OAuth2 token endpoint, under the base URL.
const TokenPath = "/2/oauth2/token"

// DefaultTimeout bounds one call when the caller gives no HTTP client.
const DefaultTimeout = 20 * time.Second

// OAuth2App is an OAuth2 application (client) registered with X; its
// token endpoint renews expired user access tokens.
type OAuth2App struct {
	ClientID, ClientSecret string
	// TokenURL defaults to DefaultBaseURL + TokenPath.
	TokenURL string
}

// OAuth2Client returns an HTTP client that sends tok as a bearer token (OAuth
// 2.0 user context) and, when app is set and tok carries a refresh token,
// renews it once expired through app's token endpoint (golang.org/x/oauth2;
// read the renewed token from the returned source to store it). base sends
// the requests (nil: a client with DefaultTimeout).
func OAuth2Client(ctx context.Context, tok *oauth2.Token, app *OAuth2App, base *http.Client) (*http.Client, oauth2.TokenSource) {
	if base == nil {
		base = &http.Client{Timeout: DefaultTimeout}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, base)
	var src oauth2.TokenSource = oauth2.StaticTokenSource(tok)
	if app != nil && tok.RefreshToken != "" {
		url := app.TokenURL
		if url == "" {
			url = DefaultBaseURL + TokenPath
		}
		cfg := &oauth2.Config{ClientID: app.ClientID, ClientSecret: app.ClientSecret,
			Endpoint: oauth2.Endpoint{TokenURL: url, AuthStyle: oauth2.AuthStyleInHeader}}
		src = cfg.TokenSource(ctx, tok)
	}
	src = oauth2.ReuseTokenSource(tok, src)
	c := oauth2.NewClient(ctx, src)
	c.Timeout = base.Timeout
	return c, src
}

// OAuth1Client returns an HTTP client that signs every request with the
// application's consumer key and secret and the user's access token and
// secret (OAuth 1.0a user context, HMAC-SHA1, github.com/dghubble/oauth1).
// base sends the requests (nil: a client with DefaultTimeout).
func OAuth1Client(ctx context.Context, consumerKey, consumerSecret, token, tokenSecret string, base *http.Client) *http.Client {
	if base == nil {
		base = &http.Client{Timeout: DefaultTimeout}
	}
	cfg := oauth1.NewConfig(consumerKey, consumerSecret)
	c := cfg.Client(context.WithValue(ctx, oauth1.HTTPClient, base), oauth1.NewToken(token, tokenSecret))
	c.Timeout = base.Timeout
	return c
}
