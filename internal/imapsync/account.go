package imapsync

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Auth is an authentication mechanism.
type Auth string

// Mechanisms.
const (
	AuthLogin   Auth = "LOGIN"
	AuthPlain   Auth = "PLAIN"
	AuthXOAuth2 Auth = "XOAUTH2"
)

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Account is how to reach and log in to a remote IMAP account.
type Account struct {
	Addr string           // host:port
	TLS  outbound.TLSMode // none, starttls, tls
	Auth Auth
	User string
	// Secret is the password, or the access token for XOAUTH2.
	Secret string
	// Timeout bounds the dial and each command's wait.
	Timeout time.Duration
	// TLSConfig is used for TLS; nil verifies the server's certificate
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
}

// String describes the account without its secret.
func (a Account) String() string {
	return fmt.Sprintf("imap %s (%s, %s, user %s)", a.Addr, a.TLS, a.Auth, a.User)
}

// AccountOf reads ident's IMAP settings and opens its credentials.
func AccountOf(ident store.Identity, keys Opener, timeout time.Duration) (Account, error) {
	a := Account{Addr: strings.TrimSpace(ident.Infos["inserver"]), TLS: outbound.TLSStart, Auth: AuthLogin, Timeout: timeout}
	_, port, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return Account{}, fail(KindConfig, fmt.Errorf("inserver %q is not host:port", a.Addr))
	}
	if port == "993" {
		a.TLS = outbound.TLSImplicit
	}
	if v := ident.Infos["intls"]; v != "" {
		if a.TLS, err = outbound.ParseTLSMode(v); err != nil {
			return Account{}, fail(KindConfig, fmt.Errorf("intls: %w", err))
		}
	}
	if ident.Credentials.IsZero() {
		return Account{}, fail(KindConfig, errors.New("remote identity has no credentials"))
	}
	plain, err := keys.Open(ident.Credentials, []byte(ident.ID))
	if err != nil {
		return Account{}, fail(KindConfig, fmt.Errorf("open credentials: %w", err))
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return Account{}, fail(KindConfig, errors.New("credentials are not a JSON object"))
	}
	switch strings.ToLower(ident.Infos["authtype"]) {
	case "oauth2":
		a.Auth, a.User, a.Secret = AuthXOAuth2, creds["username"], creds["oauth2accesstoken"]
	case "plain":
		a.Auth, a.User, a.Secret = AuthPlain, creds["inusername"], creds["inpassword"]
	default:
		a.User, a.Secret = creds["inusername"], creds["inpassword"]
	}
	if a.User == "" || a.Secret == "" {
		return Account{}, fail(KindConfig, errors.New("incomplete IMAP credentials"))
	}
	return a, nil
}
