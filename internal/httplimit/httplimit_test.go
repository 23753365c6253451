package httplimit_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/httplimit"
)

// serve starts a server with cfg whose handler reads the whole body and
// reports the read's error on errs.
func serve(t *testing.T, cfg httplimit.Config, errs chan<- error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := cfg.Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		errs <- err
		if err != nil {
			http.Error(w, "request body not received in time", http.StatusRequestTimeout)
			return
		}
		io.WriteString(w, "ok")
	}), nil)
	go srv.Serve(cfg.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestTrickledBody: a body sent a byte at a time, slower than the idle
// timeout, loses its connection at the first gap, however long the
// declared body; the handler sees a timeout, and the server closes the
// connection.
func TestTrickledBody(t *testing.T) {
	idle := 200 * time.Millisecond
	errs := make(chan error, 10)
	addr := serve(t, httplimit.Config{BodyIdleTimeout: idle, ReadTimeout: time.Minute}, errs)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
	// The client trickles: one byte per 3 idle periods, as the attacker's
	// byte every 12 s against a 5 s timeout.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * idle):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	select {
	case err := <-errs:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("handler's body read: %v, want a deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the trickled body still held the handler")
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	rest, err := io.ReadAll(bufio.NewReader(c))
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Errorf("connection not closed by the server: %v", err)
	}
	if strings.Contains(string(rest), "ok") {
		t.Errorf("answered %q", rest)
	}
}

// TestConnectionCap: beyond MaxConns, a new connection waits; the ones
// holding the slots without sending a header are dropped after
// ReadHeaderTimeout, and the waiting client is then served.
func TestConnectionCap(t *testing.T) {
	errs := make(chan error, 10)
	addr := serve(t, httplimit.Config{MaxConns: 2, ReadHeaderTimeout: 300 * time.Millisecond}, errs)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "POST / HTTP/1.1\r\n") // and nothing more
		held = append(held, c)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatalf("third client not served: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "ok" {
		t.Errorf("third client got %d %q", res.StatusCode, body)
	}
	for i, c := range held {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("held connection %d not closed: %v", i, err)
		}
	}
}

// TestHeaderBytes: a header over MaxHeaderBytes is refused.
func TestHeaderBytes(t *testing.T) {
	errs := make(chan error, 10)
	addr := serve(t, httplimit.Config{MaxHeaderBytes: 1 << 10}, errs)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("x"))
	req.Header.Set("X-Big", strings.Repeat("a", 8<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("big header: %d, want 431", res.StatusCode)
	}
}
