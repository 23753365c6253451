// Package outboundtest gives tests SMTP and IMAP peers: an in-process
// go-smtp server whose answers a test chooses (FakeSMTP), and the real
// servers of scripts/test-peers (Postfix's smtp-sink, a private Postfix
// relay, Dovecot IMAP), taken from the environment or started on demand.
// Under CI=true a peer that cannot be had fails the test; otherwise the
// test is skipped.
package outboundtest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/testcert"
)

// Received is one message a FakeSMTP accepted.
type Received struct {
	From string
	To   []string
	Data []byte
	User string // the authenticated user, "" without AUTH
	TLS  bool   // the message came over TLS
}

// FakeSMTP is an in-process SMTP server on loopback. Set its fields
// before sending; it is safe for concurrent sessions.
type FakeSMTP struct {
	// Addr is host:port.
	Addr string

	mu sync.Mutex
	// Users maps user names to passwords (PLAIN, LOGIN) or tokens
	// (XOAUTH2); empty means no AUTH offered.
	users map[string]string
	// failRcpt and failData are the errors answered to RCPT and to the
	// end of DATA (nil accepts).
	failRcpt, failData *smtp.SMTPError
	// hangUp closes the connection after the message instead of answering.
	hangUp   bool
	received []Received
	attempts int
	sessions int
	conns    []*smtp.Conn
}

// StartFakeSMTP starts a FakeSMTP that the test's cleanup stops.
func StartFakeSMTP(t testing.TB) *FakeSMTP {
	t.Helper()
	return startFake(t, nil, false)
}

// StartFakeSMTPTLS starts a FakeSMTP with cert: it offers STARTTLS, or
// with implicit speaks TLS from the first byte (as on port 465).
func StartFakeSMTPTLS(t testing.TB, cert testcert.Cert, implicit bool) *FakeSMTP {
	t.Helper()
	return startFake(t, cert.Server(), implicit)
}

func startFake(t testing.TB, cfg *tls.Config, implicit bool) *FakeSMTP {
	f := &FakeSMTP{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		f.mu.Lock()
		f.sessions++
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		return &fakeSession{f: f, conn: c}, nil
	}))
	srv.Domain = "fake.caliopen.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fake smtp: %v", err)
	}
	switch {
	case cfg != nil && implicit:
		ln = tls.NewListener(ln, cfg)
	case cfg != nil:
		srv.TLSConfig = cfg
	}
	f.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// RequireAuth makes the server offer PLAIN, LOGIN and XOAUTH2 and accept
// only user with secret (a password or a token).
func (f *FakeSMTP) RequireAuth(user, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = map[string]string{user: secret}
}

// Fail makes RCPT (stage "rcpt") or the end of DATA (stage "data") answer
// code; code 0 accepts again.
func (f *FakeSMTP) Fail(stage string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var e *smtp.SMTPError
	if code != 0 {
		e = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "injected failure"}
	}
	if stage == "rcpt" {
		f.failRcpt = e
	} else {
		f.failData = e
	}
}

// HangUp makes the server drop the connection after reading a message,
// without an answer (the message is counted as received).
func (f *FakeSMTP) HangUp(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangUp = on
}

// Received returns the accepted messages.
func (f *FakeSMTP) Received() []Received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Received(nil), f.received...)
}

// Sessions counts the connections the server accepted.
func (f *FakeSMTP) Sessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions
}

// DropConnections closes every connection, as a server does with idle
// ones.
func (f *FakeSMTP) DropConnections() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Conn().Close()
	}
	f.conns = nil
}

// Attempts counts DATA commands, accepted or not.
func (f *FakeSMTP) Attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// fakeSession is one SMTP session of a FakeSMTP.
type fakeSession struct {
	f    *FakeSMTP
	conn *smtp.Conn
	cur  Received
	auth bool
}

// AuthMechanisms offers AUTH when users are set.
func (s *fakeSession) AuthMechanisms() []string {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if len(s.f.users) == 0 {
		return nil
	}
	return []string{sasl.Plain, sasl.Login, "XOAUTH2"}
}

// Auth checks credentials.
func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, secret string) error {
		s.f.mu.Lock()
		defer s.f.mu.Unlock()
		if want, ok := s.f.users[user]; !ok || want != secret {
			return smtp.ErrAuthFailed
		}
		s.cur.User, s.auth = user, true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, u, p string) error { return check(u, p) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "XOAUTH2":
		return XOAuth2Server(check), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// Mail starts a message.
func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	s.f.mu.Lock()
	need := len(s.f.users) > 0
	s.f.mu.Unlock()
	if need && !s.auth {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

// Rcpt adds a recipient or answers the injected failure.
func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	if s.f.failRcpt != nil {
		return s.f.failRcpt
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

// Data reads the message and answers as configured.
func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.attempts++
	if s.f.failData != nil {
		return s.f.failData
	}
	msg := s.cur
	msg.Data = b
	_, msg.TLS = s.conn.TLSConnectionState()
	s.f.received = append(s.f.received, msg)
	if s.f.hangUp {
		_ = s.conn.Conn().Close()
		return errors.New("hung up")
	}
	return nil
}

// Reset forgets the current message.
func (s *fakeSession) Reset() { s.cur = Received{User: s.cur.User} }

// Logout ends the session.
func (s *fakeSession) Logout() error { return nil }
