package imapsync

import (
	"context"
	"crypto/tls"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/internal/testcert"
)

// tlsServer is go-imap's server with one user: with STARTTLS when cert is
// set and not implicit, TLS from the first byte when implicit. loggedIn
// counts the sessions that reached a login, tls those over TLS.
type tlsServer struct {
	addr          string
	loggedIn, tls atomic.Int64
}

func startTLSServer(t *testing.T, cert *testcert.Cert, implicit bool) *tlsServer {
	t.Helper()
	ts := &tlsServer{}
	o := imaptest.MemOptions{Implicit: implicit, Session: func(s imapserver.Session, c *imapserver.Conn) imapserver.Session {
		return &countingSession{Session: s, conn: c, ts: ts}
	}}
	if cert != nil {
		o.TLS = cert.Server()
	}
	ts.addr = imaptest.StartMem(t, o).Addr
	return ts
}

// countingSession notes the logins and whether they came over TLS.
type countingSession struct {
	imapserver.Session
	conn *imapserver.Conn
	ts   *tlsServer
}

// AuthenticateMechanisms offers XOAUTH2 beside PLAIN.
func (s *countingSession) AuthenticateMechanisms() []string { return []string{sasl.Plain, "XOAUTH2"} }

// Authenticate takes XOAUTH2 with the token "token-of-<user>" (then logs
// the in-memory session in with the user's password) and PLAIN.
func (s *countingSession) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case "XOAUTH2":
		return outboundtest.XOAuth2Server(func(user, token string) error {
			if token != "token-of-"+user {
				return errors.New("invalid token")
			}
			return s.Login(user, "pw")
		}), nil
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return s.Login(user, pass) }), nil
	}
	return nil, errors.New("unsupported mechanism")
}

func (s *countingSession) Login(user, pass string) error {
	s.ts.loggedIn.Add(1)
	if _, ok := s.conn.NetConn().(*tls.Conn); ok {
		s.ts.tls.Add(1)
	}
	return s.Session.Login(user, pass)
}

// Logins with implicit TLS and STARTTLS against go-imap's server; a
// certificate the client does not trust, or a server without STARTTLS,
// fails, temporarily, before any credential is sent.
func TestOpenTLS(t *testing.T) {
	cert := testcert.New(t)
	trusted := cert.Client("127.0.0.1")
	cases := []struct {
		name     string
		cert     *testcert.Cert
		implicit bool
		mode     mailconn.TLSMode
		cfg      *tls.Config
		ok       bool
	}{
		{"starttls", &cert, false, mailconn.TLSStart, trusted, true},
		{"implicit tls", &cert, true, mailconn.TLSImplicit, trusted, true},
		{"starttls, certificate not trusted", &cert, false, mailconn.TLSStart, nil, false},
		{"implicit tls, certificate not trusted", &cert, true, mailconn.TLSImplicit, nil, false},
		{"starttls required, server without it", nil, false, mailconn.TLSStart, trusted, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := startTLSServer(t, c.cert, c.implicit)
			acct := Account{Addr: ts.addr, TLS: c.mode, TLSConfig: c.cfg, Auth: mailconn.MechLogin, User: "alice", Secret: "pw",
				Timeout: 5 * time.Second, Dialer: loopbackDialer}
			s, err := Open(context.Background(), acct)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				if ts.loggedIn.Load() != 1 || ts.tls.Load() != 1 {
					t.Errorf("%d logins, %d over TLS; want 1 over TLS", ts.loggedIn.Load(), ts.tls.Load())
				}
				return
			}
			if err == nil || faults.ClassOf(err) != faults.Temporary || errors.Is(err, ErrLoginRefused) {
				t.Fatalf("err = %v, want a temporary error", err)
			}
			if n := ts.loggedIn.Load(); n != 0 {
				t.Errorf("%d logins reached the server", n)
			}
		})
	}
}

// XOAUTH2 over implicit TLS: the right token logs in, a wrong one is
// a permanent ErrLoginRefused.
func TestOpenXOAuth2(t *testing.T) {
	cert := testcert.New(t)
	ts := startTLSServer(t, &cert, true)
	acct := Account{Addr: ts.addr, TLS: mailconn.TLSImplicit, TLSConfig: cert.Client("127.0.0.1"), Auth: mailconn.MechXOAuth2,
		User: "alice", Secret: "token-of-alice", Timeout: 5 * time.Second, Dialer: loopbackDialer}
	s, err := Open(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if ts.tls.Load() != 1 {
		t.Errorf("%d logins over TLS, want 1", ts.tls.Load())
	}
	acct.Secret = "expired"
	_, err = Open(context.Background(), acct)
	if !faults.IsPermanent(err) || !errors.Is(err, ErrLoginRefused) {
		t.Fatalf("wrong token: %v, want a permanent ErrLoginRefused", err)
	}
}
