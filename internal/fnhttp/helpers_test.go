package fnhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/caliopen/functions/internal/contract"
)

// logBuf collects log output; the core's goroutine may write to it too.
type logBuf struct {
	mu       sync.Mutex
	b        bytes.Buffer
	watchFor string
	seen     chan struct{}
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen != nil && bytes.Contains(p, []byte(l.watchFor)) {
		close(l.seen)
		l.seen = nil
	}
	return l.b.Write(p)
}

// watch returns a channel closed once a line containing s is written.
func (l *logBuf) watch(s string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.watchFor, l.seen = s, make(chan struct{})
	return l.seen
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines decodes every JSON log line.
func (l *logBuf) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// invocation returns the one "invocation" log line, failing unless there is
// exactly one.
func (l *logBuf) invocation(t *testing.T) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, m := range l.lines(t) {
		if m["msg"] == "invocation" {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d invocation lines, want 1; log:\n%s", len(found), l.String())
	}
	return found[0]
}

// fixedCore answers res and err, and hands each call to calls (buffered).
func fixedCore(res Result, err error, calls chan<- *Call) Core {
	return func(ctx context.Context, call *Call) (Result, error) {
		if calls != nil {
			calls <- call
		}
		return res, err
	}
}

// newTestHandler builds the adapter for cfg around core on the real contract.
func newTestHandler(t *testing.T, cfg Config, core Core) (http.Handler, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	return newHandlerWithLogs(t, cfg, logs, core), logs
}

// newHandlerWithLogs is newTestHandler logging to logs.
func newHandlerWithLogs(t *testing.T, cfg Config, logs *logBuf, core Core) http.Handler {
	t.Helper()
	c := contract.Caliopen()
	if err := cfg.Validate(c); err != nil {
		t.Fatalf("Validate(%+v) = %v", cfg, err)
	}
	return New(cfg, c, core, slog.New(slog.NewJSONHandler(logs, nil)))
}

// post sends body to h with the given headers.
func post(h http.Handler, path, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decodeBody decodes a JSON response body into a map.
func decodeBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", w.Body.String(), err)
	}
	return m
}

const (
	contactOrder = `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`
	deliverOrder = `{"order":"deliver","message_id":"m1","remote_id":"r1","user_id":"u1"}`
	inboundOrder = `{"order":"process_inbound","message_id":"m1","remote_id":"r1","user_id":"u1"}`
)
