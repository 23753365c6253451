package imaptest

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// MemOptions configure a MemServer; the zero value is a plain-text server.
type MemOptions struct {
	// TLS, when set, secures the server: from the first byte with
	// Implicit, else offered with STARTTLS (and then required for logins).
	TLS      *tls.Config
	Implicit bool
	// Session wraps each session, to add SASL mechanisms or watch logins;
	// nil serves the in-memory session as it is.
	Session func(s imapserver.Session, c *imapserver.Conn) imapserver.Session
	// Listener wraps the listener, to inject failures; nil keeps it.
	Listener func(net.Listener) net.Listener
}

// MemServer is go-imap's in-memory IMAP server on loopback with one user,
// alice (password "pw"), and an empty INBOX; the test's cleanup stops it.
type MemServer struct {
	Addr string
	User *imapmemserver.User
}

// StartMem starts a MemServer.
func StartMem(t testing.TB, o MemOptions) *MemServer {
	t.Helper()
	mem := imapmemserver.New()
	m := &MemServer{User: imapmemserver.NewUser("alice", "pw")}
	mem.AddUser(m.User)
	if err := m.User.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	opts := &imapserver.Options{Caps: imap.CapSet{imap.CapIMAP4rev1: {}}, Logger: discard{},
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			var s imapserver.Session = mem.NewSession()
			if o.Session != nil {
				s = o.Session(s, c)
			}
			return s, nil, nil
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case o.TLS != nil && o.Implicit:
		ln = tls.NewListener(ln, o.TLS)
	case o.TLS != nil:
		opts.TLSConfig = o.TLS
	default:
		opts.InsecureAuth = true
	}
	if o.Listener != nil {
		ln = o.Listener(ln)
	}
	srv := imapserver.New(opts)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	m.Addr = ln.Addr().String()
	return m
}

// discard drops the server's log lines.
type discard struct{}

func (discard) Printf(string, ...any) {}
