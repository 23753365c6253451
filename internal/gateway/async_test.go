package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/natsembed"
)

// callbacks records what the callback URL receives.
type callbacks struct {
	mu  sync.Mutex
	got []*http.Request
	bod []string
	in  chan struct{}
}

func (c *callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.got, c.bod = append(c.got, r), append(c.bod, string(b))
	c.mu.Unlock()
	c.in <- struct{}{}
}

// TestAsyncInvocation runs OpenFaaS asynchronous calls through JetStream
// (embedded NATS): a call is accepted with 202 and an X-Call-Id, its
// function runs once and its answer reaches the callback; a function that
// keeps failing is invoked MaxAttempts times with backoff, then the call is
// dead-lettered and the failure reaches the callback.
func TestAsyncInvocation(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var echoes, failures atomic.Int32
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		echoes.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("echo " + r.URL.Path + "?" + r.URL.RawQuery + " " + string(b)))
	})
	broken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failures.Add(1)
		http.Error(w, "store down", http.StatusServiceUnavailable)
	})
	g, err := New(Config{}, []Function{{Name: "echo", Handler: echo}, {Name: "broken", Handler: broken}}, nil,
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	// Before ServeAsync the route exists but is not served.
	resp, err := http.Post(srv.URL+"/async-function/echo", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before ServeAsync: %d, want 503", resp.StatusCode)
	}

	stop, err := g.ServeAsync(context.Background(), js, AsyncConfig{MaxAttempts: 3, BackoffBase: 20 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cb := &callbacks{in: make(chan struct{}, 4)}
	cbSrv := httptest.NewServer(cb)
	t.Cleanup(cbSrv.Close)

	call := func(fn, body string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/async-function/"+fn+"/sub/path?q=1", strings.NewReader(body))
		req.Header.Set(HeaderCallbackURL, cbSrv.URL+"/done")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get(headerCallID) == "" {
			t.Fatalf("POST /async-function/%s = %d, X-Call-Id %q; want 202 with a call id", fn, resp.StatusCode, resp.Header.Get(headerCallID))
		}
		return resp.Header.Get(headerCallID)
	}
	waitCallback := func() (*http.Request, string) {
		t.Helper()
		select {
		case <-cb.in:
		case <-time.After(10 * time.Second):
			t.Fatal("no callback within 10s")
		}
		cb.mu.Lock()
		defer cb.mu.Unlock()
		return cb.got[len(cb.got)-1], cb.bod[len(cb.bod)-1]
	}

	id := call("echo", "hello")
	r, body := waitCallback()
	if r.Header.Get(headerCallID) != id || r.Header.Get(HeaderFunctionStatus) != "200" || body != "echo /sub/path?q=1 hello" {
		t.Errorf("callback X-Call-Id %q (want %q), X-Function-Status %q, body %q", r.Header.Get(headerCallID), id,
			r.Header.Get(HeaderFunctionStatus), body)
	}

	id = call("broken", "order")
	r, body = waitCallback()
	if r.Header.Get(headerCallID) != id || r.Header.Get(HeaderFunctionStatus) != "503" || !strings.Contains(body, "store down") {
		t.Errorf("failure callback X-Call-Id %q, X-Function-Status %q, body %q", r.Header.Get(headerCallID),
			r.Header.Get(HeaderFunctionStatus), body)
	}
	if n := failures.Load(); n != 3 {
		t.Errorf("broken invoked %d times, want MaxAttempts 3", n)
	}
	dlq, err := js.OrderedConsumer(context.Background(), "CALIOPEN_ASYNC", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"caliopen.async.dlq.>"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := dlq.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if m.Subject() != "caliopen.async.dlq.broken" || string(m.Data()) != "order" || m.Headers().Get(headerAttempts) != "3" ||
		m.Headers().Get(headerCallID) != id || m.Headers().Get(headerStatus) != "503" {
		t.Errorf("dead letter %s %q headers %v", m.Subject(), m.Data(), m.Headers())
	}

	// Executed once: no late redelivery of the successful call.
	time.Sleep(300 * time.Millisecond)
	if n := echoes.Load(); n != 1 {
		t.Errorf("echo invoked %d times, want once", n)
	}

	for _, tt := range []struct {
		name, path, callback string
		want                 int
	}{
		{"unknown function", "/async-function/nope", "", http.StatusNotFound},
		{"relative callback", "/async-function/echo", "/cb", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader("x"))
		if tt.callback != "" {
			req.Header.Set(HeaderCallbackURL, tt.callback)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
}
