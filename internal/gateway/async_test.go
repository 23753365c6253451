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
	"github.com/caliopen/functions/internal/natsembed/natstest"
	"github.com/caliopen/functions/internal/netguard"
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
	t.Parallel()
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

	// The callbacks' server on 127.0.0.1 is allowed as an operator allows
	// an address.
	stop, err := g.ServeAsync(context.Background(), js, AsyncConfig{MaxAttempts: 3, BackoffBase: 20 * time.Millisecond,
		BackoffMax: 50 * time.Millisecond, Timeout: 5 * time.Second, Guard: netguard.MustParseAllow("127.0.0.1")})
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
		{"callback with user info", "/async-function/echo", "http://u:p@127.0.0.1/", http.StatusBadRequest},
		{"callback to a refused address", "/async-function/echo", "http://10.0.0.1/", http.StatusBadRequest},
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

// startAsync runs a gateway serving fns with the asynchronous path on an
// embedded NATS, configured by cfg; it returns the gateway's URL and the
// stream.
func startAsync(t *testing.T, cfg AsyncConfig, fns ...Function) (string, jetstream.JetStream) {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{}, fns, nil, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	stop, err := g.ServeAsync(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv.URL, js
}

// post makes one asynchronous call and returns its answer.
func post(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestAsyncCallbackGuard: without an allow list a callback naming
// localhost is dialled and refused on its address, so nothing reaches the
// server; with 127.0.0.1 allowed, a callback answered with a redirect is
// not followed (the POST never becomes a GET elsewhere). The function
// sees the caller's address.
func TestAsyncCallbackGuard(t *testing.T) {
	t.Parallel()
	var hits, redirected atomic.Int32
	remote := make(chan string, 4)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			redirected.Add(1)
			return
		}
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusSeeOther)
	}))
	t.Cleanup(target.Close)
	fn := Function{Name: "echo", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote <- r.RemoteAddr
	})}
	for _, tc := range []struct {
		name      string
		guard     netguard.Guard
		callback  string
		wantHits  int32
		wantAfter string
	}{
		{"no allow list", netguard.Guard{}, strings.Replace(target.URL, "127.0.0.1", "localhost", 1) + "/cb", 0, ""},
		{"allowed, redirect", netguard.MustParseAllow("127.0.0.1"), target.URL + "/cb", 1, ""},
	} {
		hits.Store(0)
		url, _ := startAsync(t, AsyncConfig{Guard: tc.guard, CallbackTimeout: 2 * time.Second}, fn)
		resp, body := post(t, url+"/async-function/echo", "x", map[string]string{HeaderCallbackURL: tc.callback})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		select {
		case addr := <-remote:
			if !strings.HasPrefix(addr, "127.0.0.1:") {
				t.Errorf("%s: the function saw the client %q, want the caller's address", tc.name, addr)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: call not run", tc.name)
		}
		time.Sleep(500 * time.Millisecond) // the callback, if any
		if hits.Load() != tc.wantHits || redirected.Load() != 0 {
			t.Errorf("%s: callback server hit %d times (want %d), redirect followed %d times", tc.name, hits.Load(),
				tc.wantHits, redirected.Load())
		}
	}
}

// TestAsyncQuotas: a body over the limit is 413; past a client's burst
// the calls are 429 with Retry-After; a caller's X-Call-Id is not used
// (the gateway makes every id), so no caller can shadow another's call;
// a finished call leaves the stream.
func TestAsyncQuotas(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var runs atomic.Int32
	fn := Function{Name: "slow", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		<-release
	})}
	url, js := startAsync(t, AsyncConfig{MaxBodyBytes: 1000, BurstPerClient: 3, PendingPerClient: 3,
		EveryPerClient: time.Hour, Timeout: 10 * time.Second}, fn)
	if resp, body := post(t, url+"/async-function/slow", strings.Repeat("x", 1001), nil); resp.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(body, "at most 1000 bytes") {
		t.Errorf("1001 bytes: %d %q, want 413 naming the limit", resp.StatusCode, body)
	}
	ids := map[string]bool{}
	for i := range 3 {
		resp, body := post(t, url+"/async-function/slow", "x", map[string]string{headerCallID: "chosen-id"})
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, body)
		}
		ids[resp.Header.Get(headerCallID)] = true
	}
	if len(ids) != 3 || ids["chosen-id"] {
		t.Errorf("call ids %v: want three made by the gateway", ids)
	}
	resp, body := post(t, url+"/async-function/slow", "x", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "asynchronous calls") {
		t.Errorf("call over the quota: %d %q Retry-After %q, want 429", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for runs.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	st, err := js.Stream(context.Background(), "CALIOPEN_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	for {
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d finished calls left in the stream", info.State.Msgs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if runs.Load() != 3 {
		t.Errorf("%d calls run, want 3", runs.Load())
	}
}
