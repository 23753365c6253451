// Package mailconn is how the mail functions reach a mail server: the TLS
// modes, the SASL mechanisms (XOAUTH2 among them), and a remote identity's
// server settings and login for SMTP (smtp-deliver) and IMAP (imap-fetch,
// imap-deliver), read once here from its infos and sealed credentials.
//
// An identity's infos: outserver and inserver (host:port); outtls and
// intls (none, starttls, tls; default tls on ports 465 and 993, else
// starttls); authtype: "" or login-password (the protocol's usual login:
// AUTH PLAIN for SMTP, LOGIN for IMAP, with outusername/outpassword or
// inusername/inpassword), plain (SASL PLAIN with the same credentials),
// oauth2 (XOAUTH2 with username and oauth2accesstoken); oauth1 is not
// implemented. Every problem is an error wrapping ErrSettings: the
// identity's settings or credentials cannot be used as they are.
package mailconn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// ErrSettings marks an identity whose settings or credentials are unusable.
var ErrSettings = errors.New("unusable mail settings")

// TLSMode is how a connection to a mail server is secured.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text (loopback relays, tests)
	TLSStart    TLSMode = "starttls" // STARTTLS, required
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (ports 465, 993)
)

// ParseTLSMode reads a TLS mode ("" is TLSStart).
func ParseTLSMode(v string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(v))); m {
	case "":
		return TLSStart, nil
	case TLSNone, TLSStart, TLSImplicit:
		return m, nil
	}
	return "", fmt.Errorf("tls mode %q is not none, starttls or tls", v)
}

// Mech is an authentication mechanism.
type Mech string

// Mechanisms. MechLogin is SMTP's AUTH LOGIN and IMAP's LOGIN command.
const (
	MechNone    Mech = ""
	MechPlain   Mech = "PLAIN"
	MechLogin   Mech = "LOGIN"
	MechXOAuth2 Mech = "XOAUTH2"
)

// SASL returns the SASL client of mech for user and secret (the password,
// or the token for XOAUTH2), nil for MechNone.
func SASL(mech Mech, user, secret string) sasl.Client {
	switch mech {
	case MechPlain:
		return sasl.NewPlainClient("", user, secret)
	case MechLogin:
		return sasl.NewLoginClient(user, secret)
	case MechXOAuth2:
		return NewXOAuth2(user, secret)
	}
	return nil
}

// NewXOAuth2 returns a client of Google's XOAUTH2 SASL mechanism (SMTP and
// IMAP).
func NewXOAuth2(user, token string) sasl.Client { return xoauth2{user: user, token: token} }

// xoauth2 is Google's XOAUTH2 SASL mechanism.
type xoauth2 struct{ user, token string }

// Start sends the user and the bearer token.
func (x xoauth2) Start() (string, []byte, error) {
	return string(MechXOAuth2), []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers a challenge (an error description) with an empty response,
// as the mechanism asks; the server then fails the exchange.
func (x xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Settings are how to reach one server and log in. String never shows the
// secret.
type Settings struct {
	Addr string // host:port
	TLS  TLSMode
	Mech Mech
	User string
	// Secret is the password, or the access token for XOAUTH2.
	Secret string
}

// String describes the settings without the secret.
func (s Settings) String() string {
	return fmt.Sprintf("%s (tls=%s auth=%s user=%s)", s.Addr, s.TLS, s.Mech, s.User)
}

// protocol is what differs between SMTP and IMAP in an identity's infos.
type protocol struct {
	prefix   string // "out" or "in"
	tlsPort  string // the port of implicit TLS
	login    Mech   // the usual login
	userKey  string // credential keys of login-password and plain
	passKey  string
	describe string
}

var (
	smtpProto = protocol{prefix: "out", tlsPort: "465", login: MechPlain, userKey: "outusername", passKey: "outpassword", describe: "SMTP"}
	imapProto = protocol{prefix: "in", tlsPort: "993", login: MechLogin, userKey: "inusername", passKey: "inpassword", describe: "IMAP"}
)

// SMTP returns the settings of remote identity ident's SMTP server.
func SMTP(ident store.Identity, keys Opener) (Settings, error) {
	return settingsOf(ident, keys, smtpProto)
}

// IMAP returns the settings of remote identity ident's IMAP server.
func IMAP(ident store.Identity, keys Opener) (Settings, error) {
	return settingsOf(ident, keys, imapProto)
}

func settingsOf(ident store.Identity, keys Opener, p protocol) (Settings, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSettings, fmt.Sprintf(format, args...))
	}
	s := Settings{Addr: strings.TrimSpace(ident.Infos[p.prefix+"server"]), TLS: TLSStart}
	_, port, err := net.SplitHostPort(s.Addr)
	if err != nil || port == "" {
		return Settings{}, bad("%sserver %q is not host:port", p.prefix, s.Addr)
	}
	if port == p.tlsPort {
		s.TLS = TLSImplicit
	}
	if v := ident.Infos[p.prefix+"tls"]; v != "" {
		if s.TLS, err = ParseTLSMode(v); err != nil {
			return Settings{}, bad("%stls: %v", p.prefix, err)
		}
	}
	userKey, secretKey := p.userKey, p.passKey
	switch a := strings.ToLower(strings.TrimSpace(ident.Infos["authtype"])); a {
	case "", "login-password":
		s.Mech = p.login
	case "plain":
		s.Mech = MechPlain
	case "oauth2":
		s.Mech, userKey, secretKey = MechXOAuth2, "username", "oauth2accesstoken"
	case "oauth1":
		return Settings{}, bad("authtype oauth1 is not implemented")
	default:
		return Settings{}, bad("unknown authtype %q", a)
	}
	if ident.Credentials.IsZero() {
		return Settings{}, bad("remote identity has no credentials")
	}
	plain, err := keys.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return Settings{}, bad("open credentials: %v", err)
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return Settings{}, bad("credentials are not a JSON object")
	}
	s.User, s.Secret = creds[userKey], creds[secretKey]
	if s.User == "" || s.Secret == "" {
		return Settings{}, bad("incomplete %s credentials (%s, %s)", p.describe, userKey, secretKey)
	}
	return s, nil
}
