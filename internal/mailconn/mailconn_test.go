package mailconn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

func identity(t *testing.T, ring *secrets.Keyring, infos, creds map[string]string) store.Identity {
	t.Helper()
	id := store.Identity{ID: "i1", Infos: infos}
	if creds != nil {
		b, _ := json.Marshal(creds)
		sealed, err := ring.Seal(b, []byte(id.ID))
		if err != nil {
			t.Fatal(err)
		}
		id.Credentials = sealed
	}
	return id
}

func TestSettings(t *testing.T) {
	ring, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: bytes.Repeat([]byte{7}, secrets.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	passwords := map[string]string{"outusername": "ou", "outpassword": "op", "inusername": "iu", "inpassword": "ip"}
	oauth := map[string]string{"username": "u@x", "oauth2accesstoken": "tok"}
	for _, tt := range []struct {
		name      string
		infos     map[string]string
		creds     map[string]string
		smtp      mailconn.Settings
		imap      mailconn.Settings
		wantError string // both protocols fail with it
	}{
		{name: "default login, default tls by port",
			infos: map[string]string{"outserver": "smtp.x:465", "inserver": "imap.x:993"}, creds: passwords,
			smtp: mailconn.Settings{Addr: "smtp.x:465", TLS: mailconn.TLSImplicit, Mech: mailconn.MechPlain, User: "ou", Secret: "op"},
			imap: mailconn.Settings{Addr: "imap.x:993", TLS: mailconn.TLSImplicit, Mech: mailconn.MechLogin, User: "iu", Secret: "ip"}},
		{name: "login-password, starttls elsewhere",
			infos: map[string]string{"outserver": "smtp.x:587", "inserver": "imap.x:143", "authtype": "login-password"}, creds: passwords,
			smtp: mailconn.Settings{Addr: "smtp.x:587", TLS: mailconn.TLSStart, Mech: mailconn.MechPlain, User: "ou", Secret: "op"},
			imap: mailconn.Settings{Addr: "imap.x:143", TLS: mailconn.TLSStart, Mech: mailconn.MechLogin, User: "iu", Secret: "ip"}},
		{name: "plain, tls named",
			infos: map[string]string{"outserver": "smtp.x:25", "outtls": "none", "inserver": "imap.x:1143", "intls": "TLS", "authtype": "plain"}, creds: passwords,
			smtp: mailconn.Settings{Addr: "smtp.x:25", TLS: mailconn.TLSNone, Mech: mailconn.MechPlain, User: "ou", Secret: "op"},
			imap: mailconn.Settings{Addr: "imap.x:1143", TLS: mailconn.TLSImplicit, Mech: mailconn.MechPlain, User: "iu", Secret: "ip"}},
		{name: "oauth2",
			infos: map[string]string{"outserver": "smtp.x:587", "inserver": "imap.x:993", "authtype": "Oauth2"}, creds: oauth,
			smtp: mailconn.Settings{Addr: "smtp.x:587", TLS: mailconn.TLSStart, Mech: mailconn.MechXOAuth2, User: "u@x", Secret: "tok"},
			imap: mailconn.Settings{Addr: "imap.x:993", TLS: mailconn.TLSImplicit, Mech: mailconn.MechXOAuth2, User: "u@x", Secret: "tok"}},
		{name: "oauth1", infos: map[string]string{"outserver": "s:1", "inserver": "i:1", "authtype": "oauth1"}, creds: passwords,
			wantError: "oauth1 is not implemented"},
		{name: "unknown authtype", infos: map[string]string{"outserver": "s:1", "inserver": "i:1", "authtype": "kerberos"}, creds: passwords,
			wantError: `unknown authtype "kerberos"`},
		{name: "no port", infos: map[string]string{"outserver": "s", "inserver": "i"}, creds: passwords,
			wantError: "is not host:port"},
		{name: "bad tls", infos: map[string]string{"outserver": "s:1", "outtls": "ssl", "inserver": "i:1", "intls": "ssl"}, creds: passwords,
			wantError: `tls mode "ssl"`},
		{name: "no credentials", infos: map[string]string{"outserver": "s:1", "inserver": "i:1"},
			wantError: "no credentials"},
		{name: "incomplete credentials", infos: map[string]string{"outserver": "s:1", "inserver": "i:1", "authtype": "oauth2"}, creds: passwords,
			wantError: "incomplete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ident := identity(t, ring, tt.infos, tt.creds)
			for proto, get := range map[string]func(store.Identity, mailconn.Opener) (mailconn.Settings, error){
				"smtp": mailconn.SMTP, "imap": mailconn.IMAP} {
				want := tt.smtp
				if proto == "imap" {
					want = tt.imap
				}
				got, err := get(ident, ring)
				if tt.wantError != "" {
					if !errors.Is(err, mailconn.ErrSettings) || !strings.Contains(err.Error(), tt.wantError) {
						t.Errorf("%s: %v, want ErrSettings with %q", proto, err, tt.wantError)
					}
					continue
				}
				if err != nil || got != want {
					t.Errorf("%s: %+v %v, want %+v", proto, got, err, want)
				}
				if strings.Contains(got.String(), got.Secret) {
					t.Errorf("%s: String %q shows the secret", proto, got.String())
				}
			}
		})
	}
}

func TestXOAuth2(t *testing.T) {
	mech, ir, err := mailconn.SASL(mailconn.MechXOAuth2, "u@x", "tok").Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=u@x\x01auth=Bearer tok\x01\x01" {
		t.Errorf("XOAUTH2 start = %q %q %v", mech, ir, err)
	}
	if c := mailconn.SASL(mailconn.MechNone, "u", "p"); c != nil {
		t.Errorf("no mechanism gave a client %T", c)
	}
}
