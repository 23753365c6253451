package outbound_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/internal/testcert"
)

// loopbackDialer reaches the test's servers on 127.0.0.1 through the
// egress guard, allowed as an operator allows an address.
var loopbackDialer = netguard.MustParseAllow("127.0.0.1").Dialer(5*time.Second, nil)

// TestSendGuarded: without the operator's allow list a server on
// loopback is refused before any byte is sent, permanently, and the
// failure's class says so.
func TestSendGuarded(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	err := outbound.Send(context.Background(), outbound.Server{Addr: f.Addr, TLS: mailconn.TLSNone},
		"a@caliopen.test", []string{"b@example.org"}, build(t, draft(), nil).Raw)
	var se *outbound.SendError
	if !errors.As(err, &se) || !se.Permanent() || !errors.Is(err, netguard.ErrForbidden) {
		t.Fatalf("send to loopback without allow list: %v, want a permanent ErrForbidden", err)
	}
	if c := mailconn.Classify(err); c != mailconn.ClassRefused {
		t.Errorf("class %s, want %s", c, mailconn.ClassRefused)
	}
	if n := f.Sessions(); n != 0 {
		t.Errorf("%d sessions reached the server", n)
	}
}

func TestSendClassifiesReplies(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	srv := outbound.Server{Dialer: loopbackDialer, Addr: f.Addr, TLS: mailconn.TLSNone, Timeout: 5 * time.Second}
	raw := build(t, draft(), nil).Raw
	ctx := context.Background()
	send := func() *outbound.SendError {
		err := outbound.Send(ctx, srv, "alice@caliopen.test", []string{"bob@example.org"}, raw)
		if err == nil {
			return nil
		}
		var se *outbound.SendError
		if !errors.As(err, &se) {
			t.Fatalf("error %v is not a *SendError", err)
		}
		return se
	}
	if se := send(); se != nil {
		t.Fatalf("accepting server: %v", se)
	}
	cases := []struct {
		stage       string
		code        int
		temporary   bool
		unconfirmed bool
	}{{"rcpt", 450, true, false}, {"rcpt", 550, false, false}, {"data", 451, true, false}, {"data", 554, false, false}}
	for _, c := range cases {
		f.Fail(c.stage, c.code)
		se := send()
		f.Fail(c.stage, 0)
		if se == nil || se.Code != c.code || se.Permanent() == c.temporary || faults.IsPermanent(se) == c.temporary ||
			se.Unconfirmed || se.Stage != c.stage {
			t.Errorf("%s %d: got %+v", c.stage, c.code, se)
		}
	}
	f.HangUp(true)
	se := send()
	f.HangUp(false)
	if se == nil || !se.Unconfirmed || se.Permanent() {
		t.Errorf("hang-up after the message: got %+v, want temporary and unconfirmed", se)
	}
	if got := len(f.Received()); got != 2 {
		t.Errorf("server kept %d messages, want 2 (the accepted one and the unconfirmed one)", got)
	}
	if !bytes.Equal(f.Received()[0].Data, raw) {
		t.Error("the server did not get the built bytes")
	}
	srv.Addr = "127.0.0.1:1"
	if se := send(); se == nil || se.Permanent() || se.Stage != "dial" {
		t.Errorf("refused connection: %+v", se)
	}
}

func TestSendAuthMechanisms(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	raw := build(t, draft(), nil).Raw
	ctx := context.Background()
	for _, srv := range []outbound.Server{
		{Auth: mailconn.MechPlain, Username: "u", Password: "pw"},
		{Auth: mailconn.MechLogin, Username: "u", Password: "pw"},
		{Auth: mailconn.MechXOAuth2, Username: "u", Token: "pw"},
	} {
		f.RequireAuth("u", "pw")
		srv.Addr, srv.TLS, srv.Dialer = f.Addr, mailconn.TLSNone, loopbackDialer
		if err := outbound.Send(ctx, srv, "a@caliopen.test", []string{"b@example.org"}, raw); err != nil {
			t.Errorf("%s: %v", srv.Auth, err)
		}
		if strings.Contains(srv.String(), "pw") {
			t.Errorf("String shows the secret: %s", srv)
		}
		srv.Password, srv.Token = "wrong", "wrong"
		err := outbound.Send(ctx, srv, "a@caliopen.test", []string{"b@example.org"}, raw)
		var se *outbound.SendError
		if !errors.As(err, &se) || !se.Permanent() || se.Stage != "auth" {
			t.Errorf("%s with a bad secret: %v, want a permanent auth failure", srv.Auth, err)
		}
	}
	if n := len(f.Received()); n != 3 {
		t.Errorf("%d messages, want 3", n)
	}
}

func TestSendToSMTPSink(t *testing.T) {
	sink := outboundtest.SMTPSink(t)
	m := draft()
	m.ID = "sink-" + time.Now().Format("150405.000000000")
	b := build(t, m, nil)
	srv := outbound.Server{Dialer: loopbackDialer, Addr: sink.Addr, TLS: mailconn.TLSNone}
	if err := outbound.Send(context.Background(), srv, b.From, b.Recipients, b.Raw); err != nil {
		t.Fatal(err)
	}
	var got []outboundtest.Dumped
	for i := 0; i < 50 && len(got) == 0; i++ {
		got = sink.Find(t, b.MessageID)
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 1 {
		t.Fatalf("%d dumps with the Message-ID, want 1", len(got))
	}
	if r := strings.Join(got[0].Rcpts, " "); r != strings.Join(b.Recipients, " ") {
		t.Errorf("envelope recipients %q, want %q", r, b.Recipients)
	}
	lf := func(b []byte) []byte { return bytes.TrimRight(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), "\n") }
	if !bytes.HasSuffix(lf(got[0].Raw), lf(b.Raw)) {
		t.Error("the sink's dump does not end with the built message")
	}
}

// TLS against a real go-smtp server with a certificate the client trusts
// through Server.TLSConfig; without that trust, or without STARTTLS on the
// server, nothing is sent in clear.
func TestSendTLS(t *testing.T) {
	cert := testcert.New(t)
	trusted := cert.Client("127.0.0.1")
	raw := build(t, draft(), nil).Raw
	cases := []struct {
		name      string
		implicit  bool // the server speaks TLS from the first byte
		offerTLS  bool // the server has a certificate at all
		mode      mailconn.TLSMode
		trust     *tls.Config
		wantStage string // "" = sent
	}{
		{"starttls", false, true, mailconn.TLSStart, trusted, ""},
		{"implicit tls", true, true, mailconn.TLSImplicit, trusted, ""},
		{"starttls, certificate not trusted", false, true, mailconn.TLSStart, nil, "tls"},
		{"implicit tls, certificate not trusted", true, true, mailconn.TLSImplicit, nil, "tls"},
		{"starttls required, server without it", false, false, mailconn.TLSStart, trusted, "tls"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f *outboundtest.FakeSMTP
			if c.offerTLS {
				f = outboundtest.StartFakeSMTPTLS(t, cert, c.implicit)
			} else {
				f = outboundtest.StartFakeSMTP(t)
			}
			f.RequireAuth("alice", "secret")
			srv := outbound.Server{Dialer: loopbackDialer, Addr: f.Addr, TLS: c.mode, TLSConfig: c.trust, Auth: mailconn.MechPlain,
				Username: "alice", Password: "secret", Timeout: 5 * time.Second}
			err := outbound.Send(context.Background(), srv, "alice@caliopen.test", []string{"bob@example.org"}, raw)
			if c.wantStage == "" {
				if err != nil {
					t.Fatal(err)
				}
				got := f.Received()
				if len(got) != 1 || !got[0].TLS || got[0].User != "alice" || !bytes.Equal(got[0].Data, raw) {
					t.Fatalf("received %+v, want the message over TLS from alice", got)
				}
				return
			}
			var se *outbound.SendError
			if !errors.As(err, &se) || se.Stage != c.wantStage || se.Permanent() {
				t.Fatalf("err = %v, want a temporary SendError at stage %q", err, c.wantStage)
			}
			if n := len(f.Received()); n != 0 {
				t.Errorf("%d sessions reached the server", n)
			}
		})
	}
}

// BenchmarkSendNewConnection: one message per connection to a local
// server, dialled plainly and through the egress guard (allow list
// naming 127.0.0.1): the guard's cost per connection, its check on the
// address dialled.
func BenchmarkSendNewConnection(b *testing.B) {
	f := outboundtest.StartFakeSMTP(b)
	raw := build(b, draft(), nil).Raw
	for _, bc := range []struct {
		name string
		d    *net.Dialer
	}{{"plain", &net.Dialer{}}, {"guarded", loopbackDialer}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := outbound.Server{Dialer: bc.d, Addr: f.Addr, TLS: mailconn.TLSNone}
			for b.Loop() {
				if err := outbound.Send(context.Background(), srv, "a@caliopen.test", []string{"b@example.org"}, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
