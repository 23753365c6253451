package connector

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestStallWatchdog: a pull request that the server never answers (it
// stands for one lost on the way) leaves contactAction's consumer with
// events pending and nothing received; the watchdog counts it and starts
// the pull over, and the events are processed long before the request
// would have expired.
func TestStallWatchdog(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "contact-action", answerJSON(200, `{"ok":true}`))
	src := sourceOf(map[string][]*testFunc{"contactAction": {fn}})
	var lost atomic.Bool
	_, reg := startConnector(t, s, src, func(c *Config) {
		c.StallAfter = 300 * time.Millisecond
		c.pullerHook = func(p *puller) {
			if p.s.Name != "contactAction" {
				return
			}
			fetch := p.fetch
			p.fetch = func(ctx context.Context, n int) (jetstream.MessageBatch, error) {
				if lost.CompareAndSwap(false, true) {
					<-ctx.Done() // never answered: only a restart (or the expiry) ends it
					return nil, ctx.Err()
				}
				return fetch(ctx, n)
			}
		}
	})
	nc := connect(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 50 {
		if _, err := js.Publish(t.Context(), "contactAction",
			fmt.Appendf(nil, `{"order":"contact_update","contact_id":"c%d","user_id":"u1"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "50 orders processed", func() bool { return fn.calls.Load() == 50 })
	if d := time.Since(start); d >= pullWait {
		t.Errorf("processed after %s: the lost pull request was not restarted before its expiry (%s)", d, pullWait)
	}
	if n := counterValue(t, reg, "caliopen_connector_consumer_stalls_total"); n < 1 {
		t.Errorf("consumer_stalls_total = %v, want at least 1", n)
	}
}
