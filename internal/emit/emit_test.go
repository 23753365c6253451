package emit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/natsembed"
)

func setup(t *testing.T) (*nats.Conn, *Emitter) {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e, err := New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e.RetryBase = 10 * time.Millisecond
	return nc, e
}

func TestPublishWaitsForTheStream(t *testing.T) {
	nc, e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	order := contract.ContactOrder{Order: "contact_update", ContactID: "c1", UserID: "u1"}
	err := e.Publish(ctx, "contactAction", order)
	if err == nil || faults.ClassOf(err) != faults.Temporary {
		t.Fatalf("publish without a stream = %v, want a temporary error", err)
	}

	js, _ := jetstream.New(nc)
	go func() {
		time.Sleep(100 * time.Millisecond) // the stream appears while Publish retries
		js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"contactAction"}})
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := e.Publish(WithCorrelationID(ctx2, "corr-1"), "contactAction", order); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(context.Background(), "S")
	m, err := st.GetMsg(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(m.Data), `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`; got != want {
		t.Errorf("stored %s, want %s", got, want)
	}
	if m.Header.Get(HeaderCorrelationID) != "corr-1" || m.Header.Get(jetstream.MsgIDHeader) == "" {
		t.Errorf("headers %v", m.Header)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Errorf("%d messages stored, want 1", info.State.Msgs)
	}
}

func TestRequest(t *testing.T) {
	nc, e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	order := contract.DeliverOrder{MessageID: "m1", Order: "deliver", RemoteID: "i1", UserID: "u1"}
	if _, err := e.Request(ctx, "outboundSMTP", order); err == nil || !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("request without responder = %v", err)
	}
	sub, _ := nc.Subscribe("outboundSMTP", func(m *nats.Msg) { m.Respond(append([]byte("got:"), m.Data...)) })
	defer sub.Unsubscribe()
	got, err := e.Request(ctx, "outboundSMTP", order)
	if err != nil {
		t.Fatal(err)
	}
	if want := `got:{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`; string(got) != want {
		t.Errorf("reply %s, want %s", got, want)
	}
}
