package connector

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
)

// TestInvokerSigns: the connector's calls pass the function adapter's
// signature check (the name a gateway qualifies included); the same call
// unsigned, or signed with another key, is refused before the core runs.
func TestInvokerSigns(t *testing.T) {
	t.Parallel()
	keys, err := invokeauth.ParseKeys(strings.Repeat("s", 32))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := invokeauth.ParseKeys(strings.Repeat("x", 32))
	called := 0
	fn := fnhttp.New(fnhttp.Config{Function: "contact-action", Keys: keys}, contract.Caliopen(),
		func(context.Context, *fnhttp.Call) (fnhttp.Result, error) { called++; return fnhttp.Result{}, nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	tr := &InProcess{Host: "gw", Handler: http.StripPrefix("/function/contact-action.openfaas-fn", fn)}
	target := Target{Name: "contact-action.openfaas-fn", URL: "http://gw/function/contact-action.openfaas-fn"}
	inv := &Invocation{Subject: "contactAction", Queue: "contactQueue", Order: "contact_update", EventID: "e1",
		CorrelationID: "c1", Attempt: 1, Deadline: time.Now().Add(5 * time.Second),
		Body: []byte(`{"order":"contact_update","contact_id":"c1","user_id":"u1"}`)}
	for _, tt := range []struct {
		name   string
		keys   *invokeauth.Keys
		status int
		calls  int
	}{
		{"signed", keys, http.StatusOK, 1},
		{"unsigned", nil, http.StatusUnauthorized, 1},
		{"other key", other, http.StatusUnauthorized, 1},
	} {
		iv := NewInvoker(2, NewMetrics(prometheus.NewRegistry()), tr)
		iv.keys = tt.keys
		res := iv.Invoke(context.Background(), target, inv)
		if res.Err != nil || res.Status != tt.status || called != tt.calls {
			t.Errorf("%s: %d %v %s, %d core calls; want %d, %d core calls", tt.name, res.Status, res.Err, res.Body, called, tt.status, tt.calls)
		}
	}
}

// TestUnauthorizedIsRetried: a function that refuses the connector's
// signature (keys out of step during a rotation) gets the event again with
// backoff, not dead-lettered at once.
func TestUnauthorizedIsRetried(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "key-action", func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n < 3 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"keyAction": {fn}}), nil)
	nc := connect(t, s)
	dlq := deadLetters(t, nc)
	if err := nc.Publish("keyAction", []byte(`{"order":"discover_key","contact_id":"c1","user_id":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "ack after two refusals", func() bool {
		info := consumerState(t, nc, "keyAction")
		return fn.calls.Load() >= 3 && info.NumAckPending == 0 && info.AckFloor.Stream == 1
	})
	select {
	case m := <-dlq:
		t.Errorf("dead letter %s", m.Data)
	default:
	}
}
