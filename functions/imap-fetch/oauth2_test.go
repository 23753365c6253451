package imapfetch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/internal/store"
)

// xoauth2Session is go-imap's in-memory session that also takes XOAUTH2,
// with any access token the OAuth2 server signed and that has not expired.
type xoauth2Session struct {
	imapserver.Session
	oidc *mockoidc.MockOIDC
}

func (s *xoauth2Session) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s *xoauth2Session) Authenticate(mech string) (sasl.Server, error) {
	if mech != "XOAUTH2" {
		return nil, errors.New("unsupported mechanism")
	}
	return outboundtest.XOAuth2Server(func(user, token string) error {
		if _, err := s.oidc.Keypair.VerifyJWT(token, s.oidc.Now); err != nil {
			return errors.New("invalid token")
		}
		return s.Login(user, "pw")
	}), nil
}

// TestOAuth2TokenRenewed: an identity whose access token expired syncs
// after imap-fetch renewed the token at the provider (mockoidc) and logged
// in with XOAUTH2; the renewed credentials are stored.
func TestOAuth2TokenRenewed(t *testing.T) {
	oidc, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = oidc.Shutdown() })

	srv := imaptest.StartMem(t, imaptest.MemOptions{Session: func(s imapserver.Session, _ *imapserver.Conn) imapserver.Session {
		return &xoauth2Session{Session: s, oidc: oidc}
	}})
	c, err := imaptest.Dial(srv.Addr, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Append(message("o", 1, 1024), message("o", 2, 1024), message("o", 3, 1024)); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()

	h := newHarness(t, testConfig())
	h.f.deps.Tokens = oauth2creds.New(oauth2creds.Config{Providers: map[string]oauth2creds.Provider{"gmail": {
		ClientID: oidc.ClientID, ClientSecret: oidc.ClientSecret, TokenURL: oidc.TokenEndpoint()}}}, h.ring, h.st, nil)
	sess, err := oidc.SessionStore.NewSession("openid email", "nonce", mockoidc.DefaultUser(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := sess.RefreshToken(oidc.Config(), oidc.Keypair, oidc.Now())
	if err != nil {
		t.Fatal(err)
	}
	user, err := h.st.CreateUser(context.Background(), store.User{Name: "alice", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	h.ident, err = h.st.CreateIdentity(context.Background(), store.Identity{UserID: user.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@gmail.example", PollInterval: 15 * time.Minute,
		Infos: map[string]string{"inserver": srv.Addr, "intls": "none", "authtype": "Oauth2", "provider": "gmail"}})
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := json.Marshal(map[string]string{"username": "alice", oauth2creds.KeyAccessToken: "expired-token",
		oauth2creds.KeyRefreshToken: refresh, oauth2creds.KeyExpiry: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	sealed, err := h.ring.Seal(creds, []byte(h.ident.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.SetCredentials(context.Background(), user.ID, h.ident.ID, sealed); err != nil {
		t.Fatal(err)
	}

	res, err := h.invoke(context.Background(), contract.OrderSync)
	if err != nil || strings.Contains(res.Message, "failure") {
		t.Fatalf("sync: %s %v", res.Message, err)
	}
	if distinct, _ := h.processed(); distinct != 3 {
		t.Errorf("%d messages processed, want 3", distinct)
	}
	plain, err := h.ring.Open(h.identity().Credentials, []byte(h.ident.ID))
	if err != nil {
		t.Fatal(err)
	}
	var stored map[string]string
	_ = json.Unmarshal(plain, &stored)
	if tok := stored[oauth2creds.KeyAccessToken]; tok == "expired-token" || tok == "" {
		t.Errorf("the stored access token was not renewed: %q", tok)
	}
}
