package connector

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/peertest"
)

// EnvNATS29URL names the variable holding the URL of a nats-server 2.9
// with JetStream, the oldest server the connector supports
// (scripts/test-peers/nats29.sh starts one).
const EnvNATS29URL = "CALIOPEN_TEST_NATS29_URL"

// burstSize is the burst of contact_update orders that stalled the
// consumer on nats-server 2.9.
const burstSize = 20000

// TestBurst: 20,000 orders published at once are all processed, on the
// embedded server and on the oldest supported one.
func TestBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("a burst of 20,000 orders")
	}
	t.Run("embedded", func(t *testing.T) { testBurst(t, startNATS(t).ClientURL()) })
	t.Run("nats-server-2.9", func(t *testing.T) {
		url := peertest.Env(t, EnvNATS29URL, "start one with scripts/test-peers/nats29.sh")
		testBurst(t, url)
	})
}

func testBurst(t *testing.T, url string) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// A server of its own, or one shared by test runs: start from no
	// stream of ours.
	for _, name := range []string{DefaultConfig().StreamName, DefaultConfig().StreamName + "_DLQ"} {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatal(err)
		}
	}
	fn := newTestFunc(t, "contact-action", answerJSON(200, `{"ok":true}`))
	src := sourceOf(map[string][]*testFunc{"contactAction": {fn}})
	t.Cleanup(func() { // after the connector stopped
		for _, name := range []string{DefaultConfig().StreamName, DefaultConfig().StreamName + "_DLQ"} {
			_ = js.DeleteStream(context.Background(), name)
		}
	})
	_, _, stop := runConnectorOn(t, url, src, nil)
	t.Cleanup(stop)
	for i := range burstSize {
		data := fmt.Appendf(nil, `{"order":"contact_update","contact_id":"c%d","user_id":"u1"}`, i)
		if _, err := js.PublishAsync("contactAction", data); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 || i == burstSize-1 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				t.Fatalf("the burst was not acknowledged: %d publishes pending", js.PublishAsyncPending())
			}
		}
	}
	last, lastAt := int32(0), time.Now()
	for fn.calls.Load() < burstSize {
		if n := fn.calls.Load(); n != last {
			last, lastAt = n, time.Now()
		}
		if time.Since(lastAt) > 10*time.Second {
			info := consumerState(t, nc, "contactAction")
			t.Fatalf("stalled after %d of %d orders: nothing for 10 s; consumer pending %d, ack pending %d, waiting %d",
				last, burstSize, info.NumPending, info.NumAckPending, info.NumWaiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 10*time.Second, "acks", func() bool {
		info := consumerState(t, nc, "contactAction")
		return info.NumPending == 0 && info.NumAckPending == 0
	})
	if n := fn.calls.Load(); n != burstSize {
		t.Errorf("%d invocations, want %d", n, burstSize)
	}
}
