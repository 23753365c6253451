package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
)

// SendError is why Send failed.
type SendError struct {
	// Stage is the step that failed: dial, tls, hello, auth, mail, rcpt,
	// data.
	Stage string
	// Code is the SMTP reply code, 0 when there was none (network error).
	Code int
	// permanent is true for 5xx replies and configuration errors; 4xx
	// replies and network errors are temporary (package faults reads it).
	permanent bool
	// Unconfirmed is true when the connection failed after the message
	// was written and before the server's answer: the server may or may
	// not have taken it.
	Unconfirmed bool
	// Err is the underlying error.
	Err error
}

// Error describes the failure.
func (e *SendError) Error() string {
	return fmt.Sprintf("smtp %s: %v", e.Stage, e.Err)
}

// Unwrap returns the underlying error.
func (e *SendError) Unwrap() error { return e.Err }

// Is makes a failure at stage auth mailconn.ErrAuthFailed and one at
// stage tls mailconn.ErrTLSFailed, for mailconn.Classify.
func (e *SendError) Is(target error) bool {
	return target == mailconn.ErrAuthFailed && e.Stage == "auth" || target == mailconn.ErrTLSFailed && e.Stage == "tls"
}

// Permanent reports whether a retry cannot succeed; faults.ClassOf reads
// it, so that a SendError has the one error vocabulary's class.
func (e *SendError) Permanent() bool { return e.permanent }

// sendErr classifies err of stage. A TLS failure is reported at stage
// "tls" wherever it shows: with STARTTLS the handshake runs with the first
// command after it. It is temporary (the server's certificate may be
// fixed); nothing was sent in clear.
func sendErr(stage string, err error) *SendError {
	if mailconn.IsTLS(err) {
		stage = "tls"
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &SendError{Stage: stage, Code: se.Code, permanent: se.Code >= 500, Err: err}
	}
	if errors.Is(err, ErrInvalid) || errors.Is(err, netguard.ErrForbidden) {
		return &SendError{Stage: stage, permanent: true, Err: err}
	}
	return &SendError{Stage: stage, Err: err}
}

// Send hands the message raw to srv with the envelope from → to, on a
// connection of its own. It returns nil once the server accepted the
// DATA; every error is a *SendError. Pool.Send keeps connections open.
func Send(ctx context.Context, srv Server, from string, to []string, raw []byte) error {
	p := NewPool(1, time.Minute)
	defer p.Close()
	return p.Send(ctx, srv, from, to, raw)
}

// session is a connection to an SMTP server, greeted and authenticated.
type session struct {
	c    *smtp.Client
	conn net.Conn  // the TCP connection under c, for deadlines
	last time.Time // when it was last used (in a Pool)
}

// open connects, secures the connection as srv says, greets and logs in.
func open(ctx context.Context, srv Server) (*session, *SendError) {
	host, _, _ := net.SplitHostPort(srv.Addr)
	cfg := srv.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	d := srv.Dialer
	if d == nil {
		d = netguard.Guard{}.Dialer(0, nil)
	}
	conn, err := d.DialContext(ctx, "tcp", srv.Addr)
	if err != nil {
		return nil, sendErr("dial", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s := &session{conn: conn}
	switch srv.tlsMode() {
	case mailconn.TLSImplicit:
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			return nil, sendErr("tls", err)
		}
		s.c = smtp.NewClient(tc)
	case mailconn.TLSStart:
		if s.c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			return nil, sendErr("tls", err)
		}
	default:
		s.c = smtp.NewClient(conn)
	}
	if serr := greet(s.c, srv); serr != nil {
		s.close()
		return nil, withCause(ctx, serr)
	}
	return s, nil
}

// close drops the connection.
func (s *session) close() { _ = s.c.Close() }

// quit says QUIT, waiting a second at most for the answer, and closes.
func (s *session) quit() {
	_ = s.conn.SetDeadline(time.Now().Add(time.Second))
	_ = s.c.Quit()
	s.close()
}

// mail sends one message on s: MAIL, RCPT, DATA. ctx bounds it.
func (s *session) mail(ctx context.Context, from string, to []string, raw []byte) *SendError {
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	defer stop()
	if serr := transact(s.c, from, to, raw); serr != nil {
		return withCause(ctx, serr)
	}
	_ = s.conn.SetDeadline(time.Time{})
	return nil
}

// withCause notes in err that ctx ended, when it did.
func withCause(ctx context.Context, err *SendError) *SendError {
	if ctx.Err() != nil && err.Err != nil {
		err.Err = fmt.Errorf("%w (%v)", err.Err, ctx.Err())
	}
	return err
}

func helloName(srv Server) string {
	if srv.HelloName == "" {
		return "localhost"
	}
	return srv.HelloName
}

// greet runs EHLO and AUTH on c.
func greet(c *smtp.Client, srv Server) *SendError {
	if srv.tlsMode() != mailconn.TLSStart {
		// With STARTTLS the client greeted with "localhost" already.
		if err := c.Hello(helloName(srv)); err != nil {
			return sendErr("hello", err)
		}
	}
	if srv.Auth == mailconn.MechPlain && !c.SupportsAuth("PLAIN") && c.SupportsAuth("LOGIN") {
		srv.Auth = mailconn.MechLogin // the server offers LOGIN only
	}
	if a := saslClient(srv); a != nil {
		if err := c.Auth(a); err != nil {
			return sendErr("auth", err)
		}
	}
	return nil
}

// transact runs MAIL, RCPT and DATA on c.
func transact(c *smtp.Client, from string, to []string, raw []byte) *SendError {
	if err := c.Mail(from, nil); err != nil {
		return sendErr("mail", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return sendErr("rcpt", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return sendErr("data", err)
	}
	if _, err := w.Write(raw); err != nil {
		return &SendError{Stage: "data", Err: err}
	}
	if err := w.Close(); err != nil {
		se := sendErr("data", err)
		se.Unconfirmed = se.Code == 0
		return se
	}
	return nil
}

// saslClient returns the AUTH client of srv, nil for none.
func saslClient(srv Server) sasl.Client {
	secret := srv.Password
	if srv.Auth == mailconn.MechXOAuth2 {
		secret = srv.Token
	}
	return mailconn.SASL(srv.Auth, srv.Username, secret)
}
