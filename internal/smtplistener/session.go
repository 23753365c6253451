package smtplistener

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/store"
)

// SMTP answers of the listener.
var (
	errNoSuchUser  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errTempLookup  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Recipient lookup failed, try again later"}
	errTempFailure = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	errAllRefused  = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "Message refused for every recipient"}
	errRcptRefused = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "Message refused for this recipient"}
	errNoRcpt      = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
	errBadRcpts    = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many unknown recipients, closing"}
)

type backend struct {
	l    *Listener
	lmtp bool
}

// NewSession starts a session for a new connection.
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{l: b.l, conn: c, lmtp: b.lmtp, guard: guardOf(c.Conn())}, nil
}

// guardOf finds the guarded connection under nc (nil when it is not one:
// a connection the limit listener did not admit).
func guardOf(nc net.Conn) *guardConn {
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	g, _ := nc.(*guardConn)
	return g
}

// recipient is one accepted RCPT.
type recipient struct {
	addr       string // as the client wrote it (LMTP statuses are keyed by it)
	identities []store.Identity
}

type session struct {
	l     *Listener
	conn  *smtp.Conn
	lmtp  bool
	rcpts []recipient
	guard *guardConn
	bad   int // unknown recipients in the session
}

// Reset forgets the current transaction.
func (s *session) Reset() { s.rcpts = nil }

// Logout ends the session.
func (s *session) Logout() error { return nil }

// Mail accepts any sender: the listener is an MX for its own addresses.
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

// Rcpt accepts only active local e-mail identities.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr := strings.ToLower(strings.TrimSpace(to))
	ctx, cancel := context.WithTimeout(context.Background(), s.l.cfg.ProcessTimeout)
	defer cancel()
	ids, err := s.l.deps.Directory.LookupIdentities(ctx, store.ProtocolEmail, addr)
	if err != nil {
		s.l.deps.Logger.Error("recipient lookup failed", "outcome", "temporary", "err", err)
		return errTempLookup
	}
	var local []store.Identity
	for _, id := range ids {
		if id.Type == store.LocalIdentity && id.Status == store.Active {
			local = append(local, id)
		}
	}
	if len(local) == 0 {
		return s.unknown()
	}
	s.rcpts = append(s.rcpts, recipient{addr: to, identities: local})
	return nil
}

// unknown answers an unknown recipient: at once for the first
// TarpitAfter, then after a delay that doubles each time (harvesting
// addresses gets slow), and past MaxBadRcpts with 421 and the end of the
// session.
func (s *session) unknown() error {
	s.bad++
	cfg := s.l.cfg
	if s.bad > cfg.MaxBadRcpts {
		s.l.deps.Logger.Warn("session closed", "outcome", "unknown_recipients", "rcpts", s.bad)
		if s.guard != nil {
			s.guard.closeSoon()
		}
		return errBadRcpts
	}
	if n := s.bad - cfg.TarpitAfter; n > 0 {
		time.Sleep(tarpit(cfg, n))
	}
	return errNoSuchUser
}

// tarpit is the delay before answering the n-th unknown recipient past
// TarpitAfter: TarpitDelay·2^(n-1), at most TarpitMax.
func tarpit(cfg Config, n int) time.Duration {
	d := cfg.TarpitDelay
	for i := 1; i < n && d < cfg.TarpitMax; i++ {
		d *= 2
	}
	return min(d, cfg.TarpitMax)
}

// Data receives the message and answers for all recipients (SMTP).
func (s *session) Data(r io.Reader) error {
	res, err := s.receive(r)
	if err != nil {
		return err
	}
	err = res.smtpAnswer()
	if err == nil && s.guard != nil {
		s.guard.accepted()
	}
	return err
}

// LMTPData receives the message and answers per recipient (LMTP).
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	res, err := s.receive(r)
	if err != nil {
		return err
	}
	for _, rc := range s.rcpts {
		status.SetStatus(rc.addr, res.rcptAnswer(rc))
	}
	return nil
}

// receive reads the message within the DATA timeout, then stores and
// processes it.
func (s *session) receive(r io.Reader) (*result, error) {
	if len(s.rcpts) == 0 {
		return nil, errNoRcpt
	}
	nc := s.conn.Conn()
	_ = nc.SetReadDeadline(time.Now().Add(s.l.cfg.DataTimeout))
	data, err := io.ReadAll(r)
	if err != nil {
		// go-smtp's 552 for a message over the size limit, or the
		// connection failing (the answer then reaches nobody).
		return nil, err
	}
	return s.l.deliver(context.Background(), s.envelope(nc), data, s.rcpts), nil
}

// envelope describes the session for the Received header.
func (s *session) envelope(nc net.Conn) envelope {
	e := envelope{helo: s.conn.Hostname(), lmtp: s.lmtp}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		e.remoteIP = a.IP.String()
	}
	if st, ok := s.conn.TLSConnectionState(); ok {
		e.tls = &st
	}
	return e
}
