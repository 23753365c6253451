package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

func poolSend(p *outbound.Pool, srv outbound.Server, n int) error {
	return p.Send(context.Background(), srv, "alice@caliopen.test", []string{fmt.Sprintf("rcpt%d@example.org", n)},
		[]byte(fmt.Sprintf("Subject: %d\r\n\r\nbody %d\r\n", n, n)))
}

// poolFixture is a fake server, a pool and a first message sent through it.
func poolFixture(t *testing.T, maxIdle int, idle time.Duration) (*outboundtest.FakeSMTP, *outbound.Pool, outbound.Server) {
	t.Helper()
	f := outboundtest.StartFakeSMTP(t)
	p := outbound.NewPool(maxIdle, idle)
	t.Cleanup(p.Close)
	srv := outbound.Server{Dialer: loopbackDialer, Addr: f.Addr, TLS: mailconn.TLSNone}
	if err := poolSend(p, srv, 0); err != nil {
		t.Fatal(err)
	}
	return f, p, srv
}

// Messages to one server share a connection; each arrives once, with its
// own envelope.
func TestPoolReusesConnections(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	f.RequireAuth("alice", "pw")
	p := outbound.NewPool(4, time.Minute)
	defer p.Close()
	srv := outbound.Server{Dialer: loopbackDialer, Addr: f.Addr, TLS: mailconn.TLSNone, Auth: mailconn.MechPlain, Username: "alice", Password: "pw"}
	for i := range 5 {
		if err := poolSend(p, srv, i); err != nil {
			t.Fatal(err)
		}
	}
	got := f.Received()
	if len(got) != 5 || f.Sessions() != 1 {
		t.Fatalf("%d messages over %d connections, want 5 over 1", len(got), f.Sessions())
	}
	for i, m := range got {
		if want := fmt.Sprintf("rcpt%d@example.org", i); len(m.To) != 1 || m.To[0] != want || m.User != "alice" {
			t.Errorf("message %d: %+v, want to %s from alice", i, m, want)
		}
	}
	// Other credentials get their own connection.
	f.RequireAuth("bob", "pw2")
	other := srv
	other.Username, other.Password = "bob", "pw2"
	if err := poolSend(p, other, 9); err != nil {
		t.Fatal(err)
	}
	if f.Sessions() != 2 {
		t.Errorf("%d connections after a send as bob, want 2", f.Sessions())
	}
}

// A kept connection the server closed is replaced: the message is sent
// once on a new one.
func TestPoolReplacesClosedConnections(t *testing.T) {
	f, p, srv := poolFixture(t, 4, time.Minute)
	f.DropConnections()
	time.Sleep(20 * time.Millisecond)
	if err := poolSend(p, srv, 1); err != nil {
		t.Fatalf("send after the server closed the kept connection: %v", err)
	}
	if got := len(f.Received()); got != 2 || f.Sessions() != 2 {
		t.Errorf("%d messages over %d connections, want 2 over 2", got, f.Sessions())
	}
}

// A refusal is returned, not retried, and the refused connection is not
// kept; a message whose answer was lost is not sent again.
func TestPoolFailures(t *testing.T) {
	f, p, srv := poolFixture(t, 4, time.Minute)
	f.Fail("rcpt", 550)
	var se *outbound.SendError
	if err := poolSend(p, srv, 1); !errors.As(err, &se) || se.Code != 550 || !se.Permanent() {
		t.Fatalf("refused recipient: %v", err)
	}
	f.Fail("rcpt", 0)
	if err := poolSend(p, srv, 2); err != nil {
		t.Fatal(err)
	}
	if f.Sessions() != 2 {
		t.Errorf("%d connections, want 2 (the refused one is not kept)", f.Sessions())
	}
	f.HangUp(true)
	err := poolSend(p, srv, 3)
	f.HangUp(false)
	if !errors.As(err, &se) || !se.Unconfirmed {
		t.Fatalf("hang-up after the message: %v, want unconfirmed", err)
	}
	// DATA for messages 0, 2 and 3 (1 was refused at RCPT): the
	// unconfirmed one was not sent again.
	if n, got := f.Attempts(), len(f.Received()); n != 3 || got != 3 {
		t.Errorf("%d DATA commands and %d messages kept, want 3 and 3", n, got)
	}
}

// Idle connections expire; concurrent sends each get a connection and
// every message arrives.
func TestPoolExpiryAndConcurrency(t *testing.T) {
	f, p, srv := poolFixture(t, 2, 30*time.Millisecond)
	time.Sleep(60 * time.Millisecond)
	if err := poolSend(p, srv, 1); err != nil {
		t.Fatal(err)
	}
	if f.Sessions() != 2 {
		t.Errorf("%d connections, want 2 (the first expired)", f.Sessions())
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 8 {
				if err := poolSend(p, srv, 100+g*8+i); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(f.Received()); got != 66 {
		t.Errorf("%d messages, want 66", got)
	}
}
