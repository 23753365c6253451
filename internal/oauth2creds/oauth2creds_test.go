package oauth2creds

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// fixture is a SQLite store, a keyring and mockoidc (an OAuth2 server
// implementation for tests) as the gmail provider's token endpoint.
type fixture struct {
	st       *store.SQL
	ring     *secrets.Keyring
	oidc     *mockoidc.MockOIDC
	requests atomic.Int64 // calls to the token endpoint
	r        *Refresher
	user     store.User
	n        int // identities made
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{}
	var err error
	if f.st, err = store.Open(t.Context(), filepath.Join(t.TempDir(), "c.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.st.Close() })
	if f.ring, err = secrets.NewKeyring(secrets.Key{ID: "k", Secret: bytes.Repeat([]byte{7}, secrets.KeySize)}); err != nil {
		t.Fatal(err)
	}
	if f.oidc, err = mockoidc.NewServer(nil); err != nil {
		t.Fatal(err)
	}
	if err := f.oidc.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.TokenEndpoint {
				f.requests.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.oidc.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.oidc.Shutdown() })
	cfg := Config{Providers: map[string]Provider{"gmail": {ClientID: f.oidc.ClientID, ClientSecret: f.oidc.ClientSecret,
		TokenURL: f.oidc.TokenEndpoint()}}}
	f.r = New(cfg, f.ring, f.st, nil)
	if f.user, err = f.st.CreateUser(t.Context(), store.User{Name: "alice", PasswordHash: "x", RecoveryEmail: "a@example.org"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// refreshToken is a refresh token the server issued.
func (f *fixture) refreshToken(t *testing.T, at time.Time) string {
	t.Helper()
	sess, err := f.oidc.SessionStore.NewSession("openid email", "nonce", mockoidc.DefaultUser(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sess.RefreshToken(f.oidc.Config(), f.oidc.Keypair, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// identity stores a remote identity with creds, sealed.
func (f *fixture) identity(t *testing.T, infos, creds map[string]string) store.Identity {
	t.Helper()
	f.n++
	ident, err := f.st.CreateIdentity(t.Context(), store.Identity{UserID: f.user.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: fmt.Sprintf("alice%d@gmail.example", f.n), PollInterval: 15 * time.Minute,
		Infos: infos})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(creds)
	sealed, err := f.ring.Seal(b, []byte(ident.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetCredentials(t.Context(), f.user.ID, ident.ID, sealed); err != nil {
		t.Fatal(err)
	}
	ident.Credentials = sealed
	return ident
}

// creds opens the credentials stored for ident.
func (f *fixture) creds(t *testing.T, ident store.Identity) map[string]string {
	t.Helper()
	got, err := f.st.GetIdentity(t.Context(), f.user.ID, ident.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := f.ring.Open(got.Credentials, []byte(ident.ID))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

var gmail = map[string]string{"authtype": "Oauth2", "provider": "gmail", "inserver": "imap.gmail.example:993"}

func TestFreshRenewsAnExpiredToken(t *testing.T) {
	f := newFixture(t)
	old := map[string]string{"username": "alice@gmail.example", KeyAccessToken: "expired-token",
		KeyRefreshToken: f.refreshToken(t, f.oidc.Now()), KeyTokenType: "Bearer",
		KeyExpiry: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}
	ident := f.identity(t, gmail, old)
	got, err := f.r.Fresh(context.Background(), ident)
	if err != nil {
		t.Fatal(err)
	}
	stored := f.creds(t, ident)
	if stored[KeyAccessToken] == "" || stored[KeyAccessToken] == "expired-token" || stored["username"] != "alice@gmail.example" {
		t.Fatalf("stored credentials after renewal: %v", stored)
	}
	if exp, err := time.Parse(time.RFC3339, stored[KeyExpiry]); err != nil || !exp.After(time.Now()) {
		t.Errorf("new expiry %q (%v) is not in the future", stored[KeyExpiry], err)
	}
	if got.Credentials.IsZero() || bytes.Equal(got.Credentials.Bytes(), ident.Credentials.Bytes()) {
		t.Error("Fresh returned the old sealed credentials")
	}
	// Now valid: a second call asks nothing.
	n := f.requests.Load()
	if _, err := f.r.Fresh(context.Background(), got); err != nil || f.requests.Load() != n {
		t.Errorf("a fresh token was renewed again (err %v, %d requests)", err, f.requests.Load()-n)
	}
}

func TestFreshLeavesValidAndOtherIdentities(t *testing.T) {
	f := newFixture(t)
	valid := f.identity(t, gmail, map[string]string{KeyAccessToken: "good", KeyRefreshToken: "r",
		KeyExpiry: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	password := f.identity(t, map[string]string{"authtype": "login-password"}, map[string]string{"inusername": "a", "inpassword": "p"})
	noExpiry := f.identity(t, gmail, map[string]string{KeyAccessToken: "good"})
	for _, ident := range []store.Identity{valid, password, noExpiry} {
		got, err := f.r.Fresh(context.Background(), ident)
		if err != nil || !bytes.Equal(got.Credentials.Bytes(), ident.Credentials.Bytes()) {
			t.Errorf("identity %v: %v, credentials changed %v", ident.Infos, err,
				!bytes.Equal(got.Credentials.Bytes(), ident.Credentials.Bytes()))
		}
	}
	if n := f.requests.Load(); n != 0 {
		t.Errorf("%d token requests for identities that need none", n)
	}
}

func TestFreshFailures(t *testing.T) {
	f := newFixture(t)
	expired := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name      string
		infos     map[string]string
		creds     map[string]string
		serverErr bool
		permanent bool
	}{
		{"no refresh token", gmail, map[string]string{KeyAccessToken: "t", KeyExpiry: expired}, false, true},
		{"provider without a client", map[string]string{"authtype": "Oauth2", "provider": "outlook"},
			map[string]string{KeyAccessToken: "t", KeyRefreshToken: "r", KeyExpiry: expired}, false, true},
		{"refresh token refused", gmail, map[string]string{KeyAccessToken: "t",
			keyRefreshAlt: f.refreshToken(t, f.oidc.Now().Add(-48*time.Hour)), KeyExpiry: expired}, false, true},
		{"token endpoint failing", gmail, map[string]string{KeyAccessToken: "t",
			KeyRefreshToken: f.refreshToken(t, f.oidc.Now()), KeyExpiry: expired}, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ident := f.identity(t, c.infos, c.creds)
			if c.serverErr {
				f.oidc.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable"})
			}
			_, err := f.r.Fresh(context.Background(), ident)
			if err == nil {
				t.Fatal("no error")
			}
			if got := faults.IsPermanent(err); got != c.permanent {
				t.Errorf("%v: permanent %v, want %v", err, got, c.permanent)
			}
			if stored := f.creds(t, ident); stored[KeyAccessToken] != "t" {
				t.Errorf("credentials changed by a failed renewal: %v", stored)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"OAUTH2_PROVIDERS": "gmail, outlook", "OAUTH2_GMAIL_CLIENT_ID": "id",
		"OAUTH2_GMAIL_CLIENT_SECRET": "s", "OAUTH2_OUTLOOK_CLIENT_ID": "o"}
	_, err := LoadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("outlook without a token URL accepted")
	}
	env["OAUTH2_OUTLOOK_TOKEN_URL"] = "https://login.example/token"
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil || cfg.Providers["gmail"].TokenURL != GoogleTokenURL || cfg.Providers["outlook"].ClientID != "o" {
		t.Fatalf("%+v %v", cfg, err)
	}
	cfg, err = LoadConfig(func(string) string { return "" })
	if err != nil || len(cfg.Providers) != 0 {
		t.Errorf("empty environment: %+v %v", cfg, err)
	}
	env = map[string]string{"OAUTH2_GMAIL_CLIENT_ID": "id", "OAUTH2_GMAIL_TOKEN_URL": "ftp://x"}
	if _, err := LoadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("a non-http token URL accepted")
	}
}
