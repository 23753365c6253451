package connector

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
)

// TestBoundedConcurrency: with MAX_INFLIGHT=2 the function never sees more
// than two invocations at once, and every request still gets its reply.
func TestBoundedConcurrency(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	var now, peak atomic.Int32
	fn := newTestFunc(t, "smtp-deliver", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		now.Add(-1)
		w.Write([]byte(`{"error":false,"message":"ok"}`))
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}}), func(c *Config) { c.MaxInflight = 2 })
	nc := connect(t, s)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := nc.Request("outboundSMTP", []byte(deliverOrder), 5*time.Second)
			if err != nil || r.Header.Get(HeaderServiceErrorCode) != "" {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrency %d, want exactly MAX_INFLIGHT=2", p)
	}
}

// TestOverloadedRequestsAnswered: past MAX_PENDING a request is refused at
// once with an overloaded reply instead of waiting.
func TestOverloadedRequestsAnswered(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	release := make(chan struct{})
	fn := newTestFunc(t, "smtp-deliver", func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Write([]byte(`{"error":false,"message":"ok"}`))
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}}), func(c *Config) { c.MaxInflight = 1; c.MaxPending = 2 })
	nc := connect(t, s)
	replies := make(chan *nats.Msg, 8)
	inbox := nats.NewInbox()
	sub, _ := nc.ChanSubscribe(inbox, replies)
	defer sub.Unsubscribe()
	for i := 0; i < 4; i++ {
		nc.PublishMsg(&nats.Msg{Subject: "outboundSMTP", Reply: inbox, Data: []byte(deliverOrder)})
	}
	var overloaded int
	timeout := time.After(3 * time.Second)
	for overloaded < 2 {
		select {
		case r := <-replies:
			if r.Header.Get(HeaderServiceErrorCode) == contract.CodeOverloaded {
				overloaded++
			}
		case <-timeout:
			t.Fatalf("%d overloaded replies, want 2", overloaded)
		}
	}
	close(release)
	for i := 0; i < 2; i++ {
		select {
		case r := <-replies:
			if string(r.Data) != `{"error":false,"message":"ok"}` {
				t.Errorf("reply %s", r.Data)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("waiting requests not answered")
		}
	}
}

func TestAdminHandler(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "smtp-deliver", answerJSON(200, `{"error":false,"message":"ok"}`))
	c, reg, stop := runConnector(t, s, sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}}), nil)
	srv := httptest.NewServer(c.AdminHandler(reg))
	defer srv.Close()
	get := func(path string) (int, string) {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	nc := connect(t, s)
	if _, err := nc.Request("outboundSMTP", []byte(deliverOrder), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d while running", code)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`caliopen_connector_messages_total{kind="request",outcome="ok",subject="outboundSMTP"} 1`,
		`caliopen_connector_invocations_total{code="200",function="smtp-deliver"} 1`,
		`caliopen_connector_topic_map_functions 1`,
		`caliopen_connector_invoke_seconds_count{function="smtp-deliver"} 1`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	stop()
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz = %d after drain, want 503", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
}
