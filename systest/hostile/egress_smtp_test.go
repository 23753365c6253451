package hostile

import (
	"context"
	"net"
	"net/textproto"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsembed/natstest"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
)

// egressSourced is a listener whose connections come from the addresses
// the test names, in order. A test cannot own an IPv6 /64 on a machine it
// shares, so this stands in for the kernel's source address (the one part
// faked); the SMTP listener and its connections are real.
type egressSourced struct {
	net.Listener
	from chan net.Addr
}

func (l egressSourced) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return egressSourcedConn{Conn: c, remote: <-l.from}, nil
}

type egressSourcedConn struct {
	net.Conn
	remote net.Addr
}

func (c egressSourcedConn) RemoteAddr() net.Addr { return c.remote }

// egressListener serves SMTP with the default limits on ln until the test
// ends.
func egressListener(t *testing.T, ln net.Listener) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	_, nc := natstest.Start(t)
	em, err := emit.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := smtplistener.New(smtplistener.Config{}, smtplistener.Deps{Directory: st, Raws: st, Blobs: blobs, Requester: em})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, ln, nil, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
}

// egressGreeting connects to addr (from local address local, when set)
// and returns the greeting's code and text; the connection stays open
// until the test ends.
func egressGreeting(t *testing.T, addr, local string) (int, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	code, msg, _ := c.ReadResponse(0)
	return code, msg
}

// TestEgressSMTPFloodFromOneIPv6Network: 300 connections from 300
// addresses of one IPv6 /64 (one party's block) hold at most the
// network's share of the listener (a tenth of 1,000 slots); the rest are
// answered 421 at once, and a client of another network is still greeted.
func TestEgressSMTPFloodFromOneIPv6Network(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	from := make(chan net.Addr, 1)
	egressListener(t, egressSourced{Listener: ln, from: from})
	greeted, refused := 0, 0
	for i := range 300 {
		ip := net.ParseIP("2001:db8:1:2::")
		ip[14], ip[15] = byte(i>>8), byte(i)
		from <- &net.TCPAddr{IP: ip, Port: 40000}
		switch code, msg := egressGreeting(t, ln.Addr().String(), ""); {
		case code == 220:
			greeted++
		case code == 421 && strings.Contains(msg, "network"):
			refused++
		default:
			t.Fatalf("flood connection %d answered %d %s", i, code, msg)
		}
	}
	t.Logf("/64 flood: tried 300, answered 300: %d greeted, %d refused", greeted, refused)
	if greeted != 100 || refused != 200 {
		t.Errorf("%d greeted, %d refused, want 100 (the network's share) and 200", greeted, refused)
	}
	from <- &net.TCPAddr{IP: net.ParseIP("2001:db8:9::1"), Port: 40000}
	if code, msg := egressGreeting(t, ln.Addr().String(), ""); code != 220 {
		t.Errorf("client of another network greeted %d %s, want 220", code, msg)
	}
}

// TestEgressSMTPFloodFromOneIPv4Network: the same from 150 real source
// addresses of one IPv4 /24 (127.0.0.0/24 on loopback).
func TestEgressSMTPFloodFromOneIPv4Network(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	egressListener(t, ln)
	greeted := 0
	for i := range 150 {
		if code, _ := egressGreeting(t, ln.Addr().String(), net.IPv4(127, 0, 0, byte(1+i)).String()); code == 220 {
			greeted++
		}
	}
	if greeted != 100 {
		t.Errorf("%d of 150 connections from one /24 greeted, want 100", greeted)
	}
	if code, msg := egressGreeting(t, ln.Addr().String(), "127.0.1.1"); code != 220 {
		t.Errorf("client of another /24 greeted %d %s, want 220", code, msg)
	}
}
