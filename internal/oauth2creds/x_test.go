package oauth2creds

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/xapitest"
)

var twitter = map[string]string{"authtype": "oauth2", "provider": "twitter"}

// xFixture is the fixture with the in-process X API server's token
// endpoint, which authenticates clients as X's OAuth 2.0 reference says.
func xFixture(t *testing.T, secret string, style oauth2.AuthStyle) (*fixture, *xapitest.Server) {
	f := newFixture(t)
	x := xapitest.New()
	t.Cleanup(x.Close)
	x.AddUser("100", "alice", "Alice")
	x.AddOAuth2Client("caliopen", secret, "refresh-1", "100")
	f.r = New(Config{Providers: map[string]Provider{"twitter": {ClientID: "caliopen", ClientSecret: secret,
		TokenURL: x.URL + "/2/oauth2/token", AuthStyle: style}}}, f.ring, f.st, nil)
	return f, x
}

func expiredCreds(refresh string) map[string]string {
	return map[string]string{KeyAccessToken: "old", KeyRefreshToken: refresh,
		KeyExpiry: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}
}

// TestXClientAuthentication: a confidential client renews with HTTP Basic
// and a public one with client_id in the body, both by default; the
// renewed pair is stored, and the rotated refresh token used next time.
func TestXClientAuthentication(t *testing.T) {
	for _, c := range []struct{ name, secret string }{{"confidential", "app-secret"}, {"public", ""}} {
		t.Run(c.name, func(t *testing.T) {
			f, x := xFixture(t, c.secret, DefaultAuthStyle("twitter", c.secret))
			ident := f.identity(t, twitter, expiredCreds("refresh-1"))
			got, err := f.r.Fresh(context.Background(), ident)
			if err != nil {
				t.Fatalf("renewal refused: %v", err)
			}
			stored := f.creds(t, ident)
			if stored[KeyAccessToken] == "old" || stored[KeyRefreshToken] == "refresh-1" || stored[KeyRefreshToken] == "" {
				t.Fatalf("stored after renewal: access changed %v, refresh rotated %v", stored[KeyAccessToken] != "old",
					stored[KeyRefreshToken] != "refresh-1")
			}
			// Renew works whatever the expiry, with the rotated token.
			if _, err := f.r.Renew(context.Background(), got); err != nil {
				t.Errorf("second renewal: %v", err)
			}
			if n := x.Requests()[xapitest.GroupToken]; n != 2 {
				t.Errorf("%d token requests, want 2", n)
			}
		})
	}
}

// TestXRefusals: a client in the wrong style is refused as a client (the
// operator's to fix, not the user's); a revoked refresh token is ErrReauth.
func TestXRefusals(t *testing.T) {
	f, x := xFixture(t, "app-secret", oauth2.AuthStyleInParams)
	_, err := f.r.Fresh(context.Background(), f.identity(t, twitter, expiredCreds("refresh-1")))
	if err == nil || !faults.IsPermanent(err) || errors.Is(err, ErrReauth) {
		t.Errorf("secret in the body: %v (permanent %v, reauth %v), want a permanent client refusal", err,
			faults.IsPermanent(err), errors.Is(err, ErrReauth))
	}
	f.r.cfg.Providers["twitter"] = Provider{ClientID: "caliopen", ClientSecret: "app-secret",
		TokenURL: x.URL + "/2/oauth2/token"} // AuthStyle unset: the default
	x.Revoke("refresh-1")
	ident := f.identity(t, twitter, expiredCreds("refresh-1"))
	if _, err := f.r.Fresh(context.Background(), ident); !errors.Is(err, ErrReauth) || !faults.IsPermanent(err) {
		t.Errorf("revoked refresh token: %v, want permanent ErrReauth", err)
	}
	if stored := f.creds(t, ident); stored[KeyAccessToken] != "old" {
		t.Error("a refused renewal changed the credentials")
	}
	noRefresh := f.identity(t, twitter, map[string]string{KeyAccessToken: "old"})
	if _, err := f.r.Renew(context.Background(), noRefresh); !errors.Is(err, ErrReauth) {
		t.Errorf("renewal without a refresh token: %v, want ErrReauth", err)
	}
}

// TestXConcurrentRenewals: two holders renew with the same refresh token;
// X takes it once (it rotates), and the loser uses the pair the winner
// stored instead of asking the user to authorize again.
func TestXConcurrentRenewals(t *testing.T) {
	f, _ := xFixture(t, "app-secret", oauth2.AuthStyleInHeader)
	ident := f.identity(t, twitter, expiredCreds("refresh-1"))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = f.r.Renew(context.Background(), ident) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("renewal %d: %v", i, err)
		}
	}
}

func TestLoadConfigAuthStyle(t *testing.T) {
	env := map[string]string{"OAUTH2_PROVIDERS": "twitter,gmail,xpublic", "OAUTH2_TWITTER_CLIENT_ID": "c",
		"OAUTH2_TWITTER_CLIENT_SECRET": "s", "OAUTH2_GMAIL_CLIENT_ID": "g", "OAUTH2_GMAIL_CLIENT_SECRET": "s",
		"OAUTH2_XPUBLIC_CLIENT_ID": "p", "OAUTH2_XPUBLIC_TOKEN_URL": "https://x.example/token"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]oauth2.AuthStyle{"twitter": oauth2.AuthStyleInHeader, "gmail": oauth2.AuthStyleInParams,
		"xpublic": oauth2.AuthStyleInParams} {
		if got := cfg.Providers[name].AuthStyle; got != want {
			t.Errorf("%s: auth style %v, want %v", name, got, want)
		}
	}
	env["OAUTH2_TWITTER_AUTH_STYLE"], env["OAUTH2_GMAIL_AUTH_STYLE"] = "params", "header"
	cfg, err = LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Providers["twitter"].AuthStyle != oauth2.AuthStyleInParams ||
		cfg.Providers["gmail"].AuthStyle != oauth2.AuthStyleInHeader {
		t.Errorf("configured styles: %+v %v", cfg.Providers, err)
	}
	env["OAUTH2_TWITTER_AUTH_STYLE"] = "cookie"
	if _, err := LoadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("an unknown auth style accepted")
	}
}
