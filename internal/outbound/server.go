package outbound

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/mailconn"
)

// Server is an SMTP server to hand messages to. Its String never shows
// credentials.
type Server struct {
	// Addr is host:port.
	Addr string
	// TLS secures the connection; "" means mailconn.TLSStart.
	TLS mailconn.TLSMode
	// TLSConfig is used for TLS; nil verifies the server's certificate
	// against the system roots for the host of Addr.
	TLSConfig *tls.Config
	// Auth is the mechanism; mailconn.MechNone sends no AUTH.
	Auth mailconn.Mech
	// Username and Password are for PLAIN and LOGIN; Username and Token
	// for XOAUTH2.
	Username, Password, Token string
	// HelloName is the EHLO name; "" means "localhost" (always "localhost"
	// with STARTTLS, whose greeting precedes the handshake).
	HelloName string
	// Timeout bounds one send when the context has no earlier deadline;
	// 0 means 30 s.
	Timeout time.Duration
	// Dialer connects; nil is the egress guard's without allow list
	// (netguard): no loopback, private or reserved address. The
	// operator's relay is given a plain one; a server a user chose the
	// guard's with the operator's allow list (netguard.Guard.DialerFor).
	Dialer *net.Dialer
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

func (s Server) tlsMode() mailconn.TLSMode {
	if s.TLS == "" {
		return mailconn.TLSStart
	}
	return s.TLS
}

func (s Server) authName() string {
	if s.Auth == mailconn.MechNone {
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
	case mailconn.TLSNone, mailconn.TLSStart, mailconn.TLSImplicit:
	default:
		problems = append(problems, fmt.Sprintf("tls mode %q is not none, starttls or tls", s.TLS))
	}
	switch s.Auth {
	case mailconn.MechNone:
	case mailconn.MechPlain, mailconn.MechLogin:
		if s.Username == "" || s.Password == "" {
			problems = append(problems, string(s.Auth)+" needs a username and a password")
		}
	case mailconn.MechXOAuth2:
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
