package imapsync

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/tracing"
)

// Mailbox is what EXAMINE reports.
type Mailbox struct {
	UIDValidity uint32
	UIDNext     uint32
	Messages    uint32
}

// Session is a logged-in connection with INBOX examined.
type Session struct {
	c    *imapclient.Client
	acct Account
	stop func() bool
	Box  Mailbox
}

// Open connects, logs in and examines INBOX. The connection is closed when
// ctx ends; Close releases it earlier.
func Open(ctx context.Context, acct Account) (_ *Session, err error) {
	_, span := tracing.Start(ctx, "imap open", trace.SpanKindClient, attribute.String("server.address", acct.Addr))
	defer func() { tracing.End(span, err) }()
	c, err := dial(acct)
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, acct: acct, stop: context.AfterFunc(ctx, func() { _ = c.Close() })}
	if err := login(c, acct); err != nil {
		s.Close()
		return nil, err
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		s.Close()
		return nil, unreachable(fmt.Errorf("examine INBOX on %s: %w", acct.Addr, err))
	}
	s.Box = Mailbox{UIDValidity: sel.UIDValidity, UIDNext: uint32(sel.UIDNext), Messages: sel.NumMessages}
	return s, nil
}

func dial(a Account) (*imapclient.Client, error) {
	d := a.Dialer
	if d == nil {
		d = netguard.Guard{}.Dialer(a.Timeout, nil)
	}
	c, err := Dial(a.Addr, a.TLS, a.TLSConfig, d)
	if errors.Is(err, netguard.ErrForbidden) {
		return nil, faults.Perm(err) // the address must change first
	}
	if err != nil {
		return nil, unreachable(err)
	}
	return c, nil
}

// Dial connects to the IMAP server at addr: in plain text (TLSNone, for
// tests), with implicit TLS, or upgraded with STARTTLS; cfg (nil: the
// system roots) verifies the server; d connects (its Timeout bounds the
// dial).
func Dial(addr string, mode mailconn.TLSMode, cfg *tls.Config, d *net.Dialer) (*imapclient.Client, error) {
	opts := &imapclient.Options{Dialer: d, TLSConfig: cfg}
	var (
		c   *imapclient.Client
		err error
	)
	switch mode {
	case mailconn.TLSNone:
		c, err = imapclient.DialInsecure(addr, opts)
	case mailconn.TLSImplicit:
		c, err = imapclient.DialTLS(addr, opts)
	default:
		c, err = imapclient.DialStartTLS(addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to imap %s: %w", addr, err)
	}
	return c, nil
}

// Connect connects and logs in as acct says, without examining a mailbox
// (to append to one); the caller closes the client.
func Connect(acct Account) (*imapclient.Client, error) {
	c, err := dial(acct)
	if err != nil {
		return nil, err
	}
	if err := login(c, acct); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// login authenticates (the error never holds the secret); a NO or BAD
// answer is a permanent ErrLoginRefused, anything else temporary.
func login(c *imapclient.Client, a Account) error {
	var err error
	switch a.Auth {
	case mailconn.MechLogin, mailconn.MechNone:
		err = c.Login(a.User, a.Secret).Wait()
	default:
		err = c.Authenticate(mailconn.SASL(a.Auth, a.User, a.Secret))
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("imap %s login of %s on %s: %w", a.Auth, a.User, a.Addr, err)
	var ie *imap.Error
	if errors.As(err, &ie) {
		return refused(err)
	}
	return unreachable(err)
}

// UIDsAfter returns the UIDs of INBOX above after, ascending.
func (s *Session) UIDsAfter(after uint32) ([]imap.UID, error) {
	set := imap.UIDSet{imap.UIDRange{Start: imap.UID(after + 1), Stop: 0}}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, unreachable(fmt.Errorf("uid search INBOX on %s: %w", s.acct.Addr, err))
	}
	// "n:*" matches the highest UID even when it is below n.
	uids := slices.DeleteFunc(data.AllUIDs(), func(u imap.UID) bool { return uint32(u) <= after })
	slices.Sort(uids)
	return uids, nil
}

// Fetch fetches the full bodies of uids with BODY.PEEK[] and calls fn for
// each, in the server's order, until fn returns false. The error is the
// fetch's (a dropped connection, say); messages passed to fn before it
// stay valid. After an error the session is closed.
func (s *Session) Fetch(uids []imap.UID, fn func(uid imap.UID, raw []byte) bool) error {
	if len(uids) == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		uid, raw, err := readMessage(msg)
		if err != nil {
			// go-imap would read the broken literal a second time while
			// draining, racing its decoder: close without draining.
			_ = s.c.Close()
			return unreachable(fmt.Errorf("uid fetch on %s: %w", s.acct.Addr, err))
		}
		if uid != 0 && raw != nil && !fn(uid, raw) {
			break
		}
	}
	if err := cmd.Close(); err != nil {
		return unreachable(fmt.Errorf("uid fetch on %s: %w", s.acct.Addr, err))
	}
	return nil
}

// maxPresized bounds the buffer allocated ahead for a message body.
const maxPresized = 1 << 20

// readMessage reads the UID and the body of one FETCH response, reading
// the literal once, to its end or to the first error.
func readMessage(msg *imapclient.FetchMessageData) (imap.UID, []byte, error) {
	var (
		uid imap.UID
		raw []byte
	)
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = it.UID
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil {
				continue
			}
			// Sized by the literal's announced length (up to a bound: the
			// server states it), so the body is read without regrowing.
			buf := bytes.NewBuffer(make([]byte, 0, min(it.Literal.Size(), maxPresized)+bytes.MinRead))
			if _, err := buf.ReadFrom(it.Literal); err != nil {
				return 0, nil, fmt.Errorf("read message body: %w", err)
			}
			b := buf.Bytes()
			if int64(len(b)) != it.Literal.Size() {
				// go-imap reports a connection closed inside the literal as its end.
				return 0, nil, fmt.Errorf("message body cut after %d of %d bytes: %w", len(b), it.Literal.Size(), io.ErrUnexpectedEOF)
			}
			raw = b
		}
	}
	return uid, raw, nil
}

// Close closes the connection (nothing is left to save on the server).
func (s *Session) Close() {
	s.stop()
	_ = s.c.Close()
}
