package hostile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// egressClientFrom is an HTTP client whose connections come from local
// address ip (loopback answers on all of 127/8): one more client.
func egressClientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// egressPost posts body to url with headers and returns the status, the
// answer and the X-Call-Id.
func egressPost(t *testing.T, c *http.Client, url string, body []byte, header map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.Header.Get("X-Call-Id")
}

// egressCallbacks records the callbacks it receives.
type egressCallbacks struct {
	mu  sync.Mutex
	got []http.Header
	in  chan struct{}
}

func egressStartCallbacks(t *testing.T, h http.Handler) (*egressCallbacks, string) {
	t.Helper()
	cb := &egressCallbacks{in: make(chan struct{}, 64)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cb.mu.Lock()
		cb.got = append(cb.got, r.Header.Clone())
		cb.mu.Unlock()
		cb.in <- struct{}{}
		if h != nil {
			h.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return cb, srv.URL
}

func (cb *egressCallbacks) wait(t *testing.T, n int, within time.Duration) []http.Header {
	t.Helper()
	deadline := time.After(within)
	for range n {
		select {
		case <-cb.in:
		case <-deadline:
			cb.mu.Lock()
			defer cb.mu.Unlock()
			t.Fatalf("%d of %d callbacks within %s", len(cb.got), n, within)
		}
	}
	cb.mu.Lock()
	defer cb.mu.Unlock()
	return append([]http.Header(nil), cb.got...)
}

// egressLogin is an asynchronous login's body.
func egressLogin(user, password string) []byte {
	return fmt.Appendf(nil, `{"username":%q,"password":%q}`, user, password)
}

// TestEgressCallbackToLoopback: a callback naming a loopback address is
// refused when the call is made (400); one naming localhost is accepted
// and never reaches the service (the address dialled is checked); with
// the operator's allow list naming 127.0.0.1, a callback answered with a
// redirect is not followed (the POST never turns into a GET elsewhere).
func TestEgressCallbackToLoopback(t *testing.T) {
	hitElsewhere := make(chan struct{}, 8)
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hitElsewhere <- struct{}{} }))
	t.Cleanup(other.Close)
	cb, cbURL := egressStartCallbacks(t, http.RedirectHandler(other.URL+"/admin", http.StatusFound))
	login := egressLogin("nobody", "wrong")

	s := egressSystem(t, nil)
	url := s.GatewayURL + "/async-function/api/api/v2/authentications"
	if code, body, _ := egressPost(t, http.DefaultClient, url, login, map[string]string{"X-Callback-Url": cbURL + "/cb"}); code != http.StatusBadRequest {
		t.Errorf("callback to %s: %d %s, want 400", cbURL, code, body)
	}
	if code, body, _ := egressPost(t, http.DefaultClient, url, login,
		map[string]string{"X-Callback-Url": strings.Replace(cbURL, "127.0.0.1", "localhost", 1) + "/cb"}); code != http.StatusAccepted {
		t.Fatalf("callback to localhost: %d %s, want 202 (checked when dialled)", code, body)
	}
	select {
	case <-cb.in:
		t.Error("a callback to localhost reached the loopback service")
	case <-time.After(3 * time.Second):
	}

	allowed := egressSystem(t, map[string]string{"CALIOPEN_EGRESS_ALLOW": "127.0.0.1"})
	if code, body, _ := egressPost(t, http.DefaultClient, allowed.GatewayURL+"/async-function/api/api/v2/authentications", login,
		map[string]string{"X-Callback-Url": cbURL + "/cb"}); code != http.StatusAccepted {
		t.Fatalf("allowed callback: %d %s", code, body)
	}
	cb.wait(t, 1, 20*time.Second)
	select {
	case <-hitElsewhere:
		t.Error("the callback's redirect was followed")
	case <-time.After(time.Second):
	}
}

// TestEgressAsyncFlood: one client posts 100 calls of 900 KB (90 MB)
// without logging in. The quota stops it: a burst is accepted, every other
// call is answered 429 with Retry-After, and the stream stays small. Every
// call is answered; none accepted is lost (each reaches its callback).
func TestEgressAsyncFlood(t *testing.T) {
	cb, cbURL := egressStartCallbacks(t, nil)
	// No token comes back during the flood, however slow the machine:
	// the client's burst (16) is what it gets.
	s := egressSystem(t, map[string]string{"CALIOPEN_EGRESS_ALLOW": "127.0.0.1", "CALIOPEN_ASYNC_EVERY_PER_CLIENT": "1h"})
	body := bytes.Repeat([]byte("x"), 900<<10)
	statuses := map[int]int{}
	accepted := 0
	for range 100 {
		code, answer, _ := egressPost(t, http.DefaultClient, s.GatewayURL+"/async-function/api/api/v2/authentications", body,
			map[string]string{"X-Callback-Url": cbURL + "/cb"})
		statuses[code]++
		switch code {
		case http.StatusAccepted:
			accepted++
		case http.StatusTooManyRequests:
			if !strings.Contains(answer, "asynchronous calls") {
				t.Errorf("429 without a clear reason: %q", answer)
			}
		default:
			t.Errorf("flood call answered %d %q", code, answer)
		}
	}
	t.Logf("flood of 100 calls of 900 KB: answers %v", statuses)
	if accepted != 16 {
		t.Errorf("%d calls of the flood accepted, want the client's burst (16)", accepted)
	}
	js, err := jetstream.New(s.NC)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "CALIOPEN_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 20<<20 {
		t.Errorf("the stream holds %d bytes after the flood", info.State.Bytes)
	}
	t.Logf("tried 100, answered %d, accepted %d, stream %d bytes", statuses[202]+statuses[429]+statuses[413]+statuses[503],
		accepted, info.State.Bytes)
	cb.wait(t, accepted, 120*time.Second) // nothing accepted is lost
}

// TestEgressShadowedCallID: a caller who picks another caller's X-Call-Id
// first cannot make that call vanish: the gateway makes every call id,
// both calls run and both callbacks come, each with its own id.
func TestEgressShadowedCallID(t *testing.T) {
	cb, cbURL := egressStartCallbacks(t, nil)
	s := egressSystem(t, map[string]string{"CALIOPEN_EGRESS_ALLOW": "127.0.0.1"})
	url := s.GatewayURL + "/async-function/api/api/v2/authentications"
	h := map[string]string{"X-Call-Id": "victims-id", "X-Callback-Url": cbURL + "/cb"}
	code1, _, id1 := egressPost(t, egressClientFrom("127.0.0.2"), url, egressLogin("attacker", "x"), h)
	code2, _, id2 := egressPost(t, egressClientFrom("127.0.0.3"), url, egressLogin("victim", "y"), h)
	if code1 != http.StatusAccepted || code2 != http.StatusAccepted || id1 == id2 || id1 == "victims-id" || id2 == "victims-id" {
		t.Fatalf("answers %d %q, %d %q: want two calls with ids of the gateway", code1, id1, code2, id2)
	}
	got := cb.wait(t, 2, 20*time.Second)
	ids := map[string]bool{}
	for _, h := range got {
		ids[h.Get("X-Call-Id")] = true
	}
	if !ids[id1] || !ids[id2] {
		t.Errorf("callbacks for %v, want %s and %s", ids, id1, id2)
	}
}

// TestEgressAsyncLoginThrottlePerClient: asynchronous logins are
// throttled per client as synchronous ones are: one client's failures
// exhaust its own bucket (429 reaches its callbacks) while another
// client's login still succeeds.
func TestEgressAsyncLoginThrottlePerClient(t *testing.T) {
	cb, cbURL := egressStartCallbacks(t, nil)
	s := egressSystem(t, map[string]string{"CALIOPEN_EGRESS_ALLOW": "127.0.0.1", "CALIOPEN_ASYNC_BURST_PER_CLIENT": "64",
		"CALIOPEN_ASYNC_PENDING_PER_CLIENT": "64"})
	if _, err := s.NewUser(context.Background(), "carol", "carol-password-1"); err != nil {
		t.Fatal(err)
	}
	url := s.GatewayURL + "/async-function/api/api/v2/authentications"
	h := map[string]string{"X-Callback-Url": cbURL + "/cb"}
	attacker := egressClientFrom("127.0.0.2")
	const tries = 14
	for range tries {
		if code, body, _ := egressPost(t, attacker, url, egressLogin("carol", "guess"), h); code != http.StatusAccepted {
			t.Fatalf("async login: %d %s", code, body)
		}
	}
	statuses := map[string]int{}
	for _, h := range cb.wait(t, tries, 60*time.Second) {
		statuses[h.Get("X-Function-Status")]++
	}
	if statuses["429"] == 0 {
		t.Errorf("guesses from one client: statuses %v, want some 429 (throttled)", statuses)
	}
	if code, body, _ := egressPost(t, egressClientFrom("127.0.0.3"), url, egressLogin("carol", "carol-password-1"), h); code != http.StatusAccepted {
		t.Fatalf("carol's async login: %d %s", code, body)
	}
	last := cb.wait(t, 1, 20*time.Second)
	if st := last[len(last)-1].Get("X-Function-Status"); st != "200" {
		t.Errorf("carol's login from another client: %s, want 200 (the guesser's bucket is not hers)", st)
	}
}
