package outbox_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/natsembed/natstest"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/store/storetest"
)

// platform is an embedded NATS server and a SQLite store.
func platform(t *testing.T) (*store.SQL, jetstream.JetStream, *emit.Emitter) {
	t.Helper()
	_, nc := natstest.Start(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	em, err := emit.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	em.RetryBase = 5 * time.Millisecond
	return storetest.SQLite(t), js, em
}

func order(data string) store.Order {
	return store.Order{Subject: "keyAction", Data: []byte(data)}
}

// TestRelay: orders left in the outbox reach the stream in commit order,
// once; an order the stream does not take stays for a later pass; the
// writer's grace period is respected.
func TestRelay(t *testing.T) {
	st, js, em := platform(t)
	ctx := t.Context()
	for _, d := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if err := st.EnqueueOrders(ctx, order(d)); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	if n, err := outbox.New(outbox.Config{Grace: time.Hour}, st, em, log).Flush(ctx); err != nil || n != 0 {
		t.Fatalf("within the writer's grace: sent %d (%v), want none", n, err)
	}
	// No stream yet: nothing is acknowledged, nothing is removed.
	relay := outbox.New(outbox.Config{Grace: -1, Lease: time.Millisecond, Interval: 10 * time.Millisecond,
		PublishTimeout: 50 * time.Millisecond}, st, em, log)
	if n, err := relay.Flush(ctx); err == nil || n != 0 {
		t.Fatalf("without a stream: sent %d (%v), want an error", n, err)
	}
	if n, _ := st.PendingOrders(ctx); n != 3 {
		t.Fatalf("%d orders pending, want 3", n)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"keyAction"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the failed pass's lease ends
	stop := relay.Start(ctx)
	if err := st.EnqueueOrders(ctx, order(`{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := st.PendingOrders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d orders still pending", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	for i, want := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`} {
		m, err := stream.GetMsg(context.Background(), uint64(i+1))
		if err != nil || string(m.Data) != want || m.Header.Get(nats.MsgIdHdr) == "" {
			t.Errorf("stream message %d = %v, %v; want %s with a Nats-Msg-Id", i+1, m, err, want)
		}
	}
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != 4 {
		t.Errorf("stream holds %d orders (%v), want 4", info.State.Msgs, err)
	}
}
