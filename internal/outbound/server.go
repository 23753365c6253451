package outbound

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

// TLSMode is how a connection to an SMTP server is secured.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain SMTP (loopback relays, tests)
	TLSStart    TLSMode = "starttls" // STARTTLS, required
	TLSImplicit TLSMode = "tls"      // TLS from the first byte (port 465)
)

// AuthMech is an SMTP AUTH mechanism.
type AuthMech string

// Authentication mechanisms.
const (
	AuthNone    AuthMech = ""
	AuthPlain   AuthMech = "PLAIN"
	AuthLogin   AuthMech = "LOGIN"
	AuthXOAuth2 AuthMech = "XOAUTH2"
)

// Server is an SMTP server to hand messages to. Its String never shows
// credentials.
type Server struct {
	// Addr is host:port.
	Addr string
	// TLS secures the connection; "" means TLSStart.
	TLS TLSMode
	// TLSConfig is used for TLS; nil verifies the server's certificate
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
	// Auth is the mechanism; AuthNone sends no AUTH.
	Auth AuthMech
	// Username and Password are for PLAIN and LOGIN; Username and Token
	// for XOAUTH2.
	Username, Password, Token string
	// HelloName is the EHLO name; "" means "localhost" (always "localhost"
	// with STARTTLS, whose greeting precedes the handshake).
	HelloName string
	// Timeout bounds one send when the context has no earlier deadline;
	// 0 means 30 s.
	Timeout time.Duration
}

// String describes the server without its credentials.
func (s Server) String() string {
	return fmt.Sprintf("smtp %s (tls=%s auth=%s)", s.Addr, s.tlsMode(), s.authName())
}

// timeout bounds one send: Timeout, or 30 s.
func (s Server) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 30 * time.Second
	}
	return s.Timeout
}

func (s Server) tlsMode() TLSMode {
	if s.TLS == "" {
		return TLSStart
	}
	return s.TLS
}

func (s Server) authName() string {
	if s.Auth == AuthNone {
		return "none"
	}
	return string(s.Auth)
}

// Check reports what is wrong with s, all at once.
func (s Server) Check() error {
	var problems []string
	if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
		problems = append(problems, fmt.Sprintf("address %q is not host:port", s.Addr))
	}
	switch s.tlsMode() {
	case TLSNone, TLSStart, TLSImplicit:
	default:
		problems = append(problems, fmt.Sprintf("tls mode %q is not none, starttls or tls", s.TLS))
	}
	switch s.Auth {
	case AuthNone:
	case AuthPlain, AuthLogin:
		if s.Username == "" || s.Password == "" {
			problems = append(problems, string(s.Auth)+" needs a username and a password")
		}
	case AuthXOAuth2:
		if s.Username == "" || s.Token == "" {
			problems = append(problems, "XOAUTH2 needs a username and a token")
		}
	default:
		problems = append(problems, fmt.Sprintf("unknown auth mechanism %q", s.Auth))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

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
