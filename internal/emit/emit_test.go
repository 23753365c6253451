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
	if err := e.Publish(contract.WithCorrelationID(ctx2, "corr-1"), "contactAction", order); err != nil {
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
	if m.Header.Get(contract.HeaderCorrelationID) != "corr-1" || m.Header.Get(jetstream.MsgIDHeader) == "" {
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

// TestRequestCarriesCorrelationAndDeadline checks what a nested request
// passes on: its context's correlation id and the time left.
func TestRequestCarriesCorrelationAndDeadline(t *testing.T) {
	nc, e := setup(t)
	got := make(chan nats.Header, 1)
	sub, _ := nc.Subscribe("outboundSMTP", func(m *nats.Msg) {
		got <- m.Header
		m.Respond([]byte(`{"error":false,"message":"sent"}`))
	})
	defer sub.Unsubscribe()
	ctx, cancel := context.WithTimeout(contract.WithCorrelationID(context.Background(), "corr-7"), 3*time.Second)
	defer cancel()
	rep, err := Deliver(ctx, e, "outboundSMTP", contract.DeliverOrder{MessageID: "m1", RemoteID: "i1", UserID: "u1"})
	if err != nil || rep != (contract.DeliverReply{Message: "sent"}) {
		t.Fatalf("Deliver = %+v, %v", rep, err)
	}
	h := <-got
	if h.Get(contract.HeaderCorrelationID) != "corr-7" {
		t.Errorf("correlation id %q, want corr-7", h.Get(contract.HeaderCorrelationID))
	}
	left, err := time.ParseDuration(h.Get(contract.HeaderTimeout))
	if err != nil || left <= 2*time.Second || left > 3*time.Second {
		t.Errorf("timeout header %q (%v), want the time left of 3s", h.Get(contract.HeaderTimeout), err)
	}
}

// replier answers every request with body, or fails with err.
type replier struct {
	body []byte
	err  error
}

func (r replier) Request(context.Context, string, any) ([]byte, error) { return r.body, r.err }

func TestTypedRequestsClassify(t *testing.T) {
	ctx := context.Background()
	order := contract.DeliverOrder{MessageID: "m1", RemoteID: "i1", UserID: "u1"}
	tests := []struct {
		name     string
		r        replier
		inbound  bool
		code     string
		replied  bool
		class    faults.Class
		noFailed bool
	}{
		{name: "inbound stored", r: replier{body: []byte(`{"message":"ok","message_id":"x"}`)}, inbound: true, noFailed: true},
		{name: "inbound permanent", r: replier{body: []byte(`{"error":"mime_rejected","message":"no"}`)}, inbound: true,
			code: contract.CodeMIMERejected, replied: true, class: faults.Permanent},
		{name: "inbound raw missing is temporary", r: replier{body: []byte(`{"error":"raw_missing","message":"no"}`)}, inbound: true,
			code: contract.CodeRawMissing, replied: true, class: faults.Temporary},
		{name: "inbound without message_id", r: replier{body: []byte(`{"message":"ok"}`)}, inbound: true,
			code: contract.CodeBadReply, class: faults.Temporary},
		{name: "no responder", r: replier{err: nats.ErrNoResponders}, inbound: true, code: contract.CodeNoResponder, class: faults.Temporary},
		{name: "timeout", r: replier{err: context.DeadlineExceeded}, code: contract.CodeNoReply, class: faults.Temporary},
		{name: "other", r: replier{err: errors.New("closed")}, code: contract.CodeUnsent, class: faults.Temporary},
		{name: "deliver sent", r: replier{body: []byte(`{"error":false,"message":"sent"}`)}, noFailed: true},
		{name: "deliver failed", r: replier{body: []byte(`{"error":true,"message":"refused"}`)}, code: contract.CodeFailed,
			replied: true, class: faults.Temporary},
		{name: "deliver malformed", r: replier{body: []byte(`{"error":"yes"}`)}, code: contract.CodeBadReply, class: faults.Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.inbound {
				_, err = ProcessInbound(ctx, tt.r, "inboundSMTP", order)
			} else {
				_, err = Deliver(ctx, tt.r, "outboundSMTP", order)
			}
			if tt.noFailed {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RequestError", err)
			}
			if re.Code != tt.code || re.Replied != tt.replied || faults.ClassOf(err) != tt.class {
				t.Errorf("code %q replied %v class %v, want %q %v %v", re.Code, re.Replied, faults.ClassOf(err), tt.code, tt.replied, tt.class)
			}
		})
	}
}

func TestSubmit(t *testing.T) {
	o := contract.RemoteOrder{Order: "sync", RemoteID: "i1", UserID: "u1"}
	if err := Submit(context.Background(), replier{body: []byte(`{"error":false,"message":"accepted"}`)}, "twitter_dm", o); err != nil {
		t.Errorf("accepted: %v", err)
	}
	if err := Submit(context.Background(), replier{body: []byte(`{"error":true,"message":"no"}`)}, "twitter_dm", o); err == nil ||
		faults.ClassOf(err) != faults.Temporary {
		t.Errorf("refused: %v, want a temporary error", err)
	}
}
