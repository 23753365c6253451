package connector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/natsembed"
)

// testFunc is a real HTTP function written for the tests: it records what it
// receives and answers what the test says.
type testFunc struct {
	name   string
	srv    *httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	answer func(n int, w http.ResponseWriter, r *http.Request, body []byte)
}

func newTestFunc(t *testing.T, name string, answer func(n int, w http.ResponseWriter, r *http.Request, body []byte)) *testFunc {
	t.Helper()
	f := &testFunc{name: name, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int(f.calls.Add(1))
		f.mu.Lock()
		f.got = append(f.got, r.Clone(context.Background()))
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		f.answer(n, w, r, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *testFunc) target() Target { return Target{Name: f.name, URL: f.srv.URL} }

func (f *testFunc) request(i int) (*http.Request, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[i], f.bodies[i]
}

func answerJSON(status int, body string) func(int, http.ResponseWriter, *http.Request, []byte) {
	return func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// mapSource is a topic map the test can change.
type mapSource struct {
	mu  sync.Mutex
	m   TopicMap
	err error
}

func (s *mapSource) Load(context.Context) (TopicMap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	out := TopicMap{}
	for k, v := range s.m {
		out[k] = append([]Target(nil), v...)
	}
	return out, nil
}

func (s *mapSource) set(m TopicMap, err error) {
	s.mu.Lock()
	s.m, s.err = m, err
	s.mu.Unlock()
}

func sourceOf(fns map[string][]*testFunc) *mapSource {
	m := TopicMap{}
	for subject, fs := range fns {
		for _, f := range fs {
			m[subject] = append(m[subject], f.target())
		}
	}
	return &mapSource{m: m}
}

func startNATS(t testing.TB) *server.Server {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func testConfig(url string) Config {
	cfg := DefaultConfig()
	cfg.NATS.URL = url
	cfg.RebuildInterval = 50 * time.Millisecond
	cfg.BackoffBase = 20 * time.Millisecond
	cfg.BackoffMax = 100 * time.Millisecond
	cfg.MaxAttempts = 4
	cfg.EventTimeout = 2 * time.Second
	cfg.DrainTimeout = 5 * time.Second
	return cfg
}

// startConnector runs a connector until the test ends and returns it once
// it consumes every subject.
func startConnector(t testing.TB, s *server.Server, src Source, tweak func(*Config)) (*Connector, *prometheus.Registry) {
	t.Helper()
	c, reg, stop := runConnector(t, s, src, tweak)
	t.Cleanup(stop)
	return c, reg
}

// runConnector starts a connector and returns a stop function that drains it
// and waits for Run to return.
func runConnector(t testing.TB, s *server.Server, src Source, tweak func(*Config)) (*Connector, *prometheus.Registry, func()) {
	t.Helper()
	return runConnectorOn(t, s.ClientURL(), src, tweak)
}

// runConnectorOn is runConnector on the NATS server at url.
func runConnectorOn(t testing.TB, url string, src Source, tweak func(*Config)) (*Connector, *prometheus.Registry, func()) {
	t.Helper()
	cfg := testConfig(url)
	if tweak != nil {
		tweak(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, Deps{
		Logger:   slog.New(slog.NewJSONHandler(testWriter{t}, nil)),
		Registry: reg, Contract: contract.Caliopen(), Source: src,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("connector did not stop")
			}
		})
	}
	waitFor(t, 5*time.Second, "connector ready", c.Ready)
	return c, reg, stop
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
