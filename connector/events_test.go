package connector

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/contract"
)

const contactOrder = `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`

// consumerState reads the durable consumer of a subject.
func consumerState(t *testing.T, nc *nats.Conn, subject string) *jetstream.ConsumerInfo {
	t.Helper()
	js, _ := jetstream.New(nc)
	s, _ := contract.Caliopen().Subject(subject)
	cons, err := js.Consumer(context.Background(), DefaultConfig().StreamName, DurableName(s))
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// deadLetters collects what arrives on the dead-letter subjects.
func deadLetters(t *testing.T, nc *nats.Conn) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(DefaultConfig().DLQPrefix+".>", ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return ch
}

func TestPublishedWhileNoConnectorRuns(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "contact-action", answerJSON(200, `{"ok":true}`))
	src := sourceOf(map[string][]*testFunc{"contactAction": {fn}})
	_, _, stop := runConnector(t, s, src, nil) // a first run declares the stream
	stop()
	nc := connect(t, s)
	if err := nc.Publish("contactAction", []byte(contactOrder)); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	time.Sleep(50 * time.Millisecond)
	if fn.calls.Load() != 0 {
		t.Fatal("invoked while no connector ran")
	}
	startConnector(t, s, src, nil)
	waitFor(t, 5*time.Second, "order processed", func() bool { return fn.calls.Load() == 1 })
	_, body := fn.request(0)
	if string(body) != contactOrder {
		t.Errorf("function got %s, want %s", body, contactOrder)
	}
	r, _ := fn.request(0)
	if r.Header.Get("X-Nats-Reply") != "false" || r.Header.Get("X-Nats-Queue") != "contactQueue" {
		t.Errorf("headers %v", r.Header)
	}
	waitFor(t, 5*time.Second, "ack", func() bool { return consumerState(t, nc, "contactAction").NumAckPending == 0 })
}

// TestRetryThenAck: 503, 503, then 200 gives three invocations and one ack,
// with the attempt number on each.
func TestRetryThenAck(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "key-action", func(n int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	_, reg := startConnector(t, s, sourceOf(map[string][]*testFunc{"keyAction": {fn}}), nil)
	nc := connect(t, s)
	dlq := deadLetters(t, nc)
	if err := nc.Publish("keyAction", []byte(`{"order":"discover_key","contact_id":"c1","user_id":"u1"}`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "three invocations", func() bool { return fn.calls.Load() >= 3 })
	waitFor(t, 5*time.Second, "ack", func() bool {
		info := consumerState(t, nc, "keyAction")
		return info.NumAckPending == 0 && info.AckFloor.Stream == 1
	})
	time.Sleep(200 * time.Millisecond) // longer than the backoff: no further delivery
	if n := fn.calls.Load(); n != 3 {
		t.Errorf("invoked %d times, want 3", n)
	}
	for i := 0; i < 3; i++ {
		r, _ := fn.request(i)
		if got, want := r.Header.Get("X-Delivery-Attempt"), string(rune('1'+i)); got != want {
			t.Errorf("attempt header of call %d = %q, want %q", i+1, got, want)
		}
	}
	if ok := counterValue(t, reg, "caliopen_connector_redeliveries_total"); ok != 2 {
		t.Errorf("redeliveries = %v, want 2", ok)
	}
	select {
	case m := <-dlq:
		t.Errorf("dead letter %s", m.Data)
	default:
	}
}

func TestPermanentFailureDeadLetters(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "identities-orders", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set(HeaderServiceErrorCode, "unknown_identity")
		w.Header().Set(HeaderServiceError, "identity i1 does not exist")
		w.WriteHeader(400)
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"identitiesWorker": {fn}}), nil)
	nc := connect(t, s)
	dlq := deadLetters(t, nc)
	order := `{"identity_id":"i1","order":"add_identity","user_id":"u1"}`
	m := nats.NewMsg("identitiesWorker")
	m.Data = []byte(order)
	m.Header.Set(HeaderCorrelationID, "corr-dl")
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	select {
	case dl := <-dlq:
		if dl.Subject != "caliopen.dlq.identitiesWorker" {
			t.Errorf("dead letter on %s", dl.Subject)
		}
		if string(dl.Data) != order {
			t.Errorf("dead letter payload %s, want the original %s", dl.Data, order)
		}
		want := map[string]string{
			HeaderErrorCode: "unknown_identity", HeaderError: "identity i1 does not exist", HeaderStatus: "400",
			HeaderAttempts: "1", HeaderFunction: "identities-orders", HeaderSubject: "identitiesWorker",
			HeaderCorrelationID: "corr-dl",
		}
		for k, v := range want {
			if got := dl.Header.Get(k); got != v {
				t.Errorf("dead letter header %s = %q, want %q", k, got, v)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter")
	}
	time.Sleep(200 * time.Millisecond)
	if n := fn.calls.Load(); n != 1 {
		t.Errorf("invoked %d times, want 1 (no retry after a permanent failure)", n)
	}
	waitFor(t, 2*time.Second, "terminated", func() bool { return consumerState(t, nc, "identitiesWorker").NumAckPending == 0 })
}

func TestInvalidEventAndExhaustedAttempts(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "imap-fetch", answerJSON(503, ``))
	startConnector(t, s, sourceOf(map[string][]*testFunc{"IMAPfetcher": {fn}}), nil)
	nc := connect(t, s)
	dlq := deadLetters(t, nc)

	nc.Publish("IMAPfetcher", []byte(`{"order":"sync","user_id":"u1"}`)) // remote_id missing
	dl := <-dlq
	if dl.Header.Get(HeaderErrorCode) != contract.CodeMissingField || !strings.Contains(dl.Header.Get(HeaderError), "remote_id") {
		t.Errorf("invalid order dead-lettered with %q %q", dl.Header.Get(HeaderErrorCode), dl.Header.Get(HeaderError))
	}
	if fn.calls.Load() != 0 {
		t.Error("invalid order was invoked")
	}

	nc.Publish("IMAPfetcher", []byte(`{"order":"sync","remote_id":"i1","user_id":"u1"}`))
	select {
	case dl = <-dlq:
	case <-time.After(5 * time.Second):
		t.Fatal("no dead letter after the last attempt")
	}
	if got := fn.calls.Load(); got != 4 {
		t.Errorf("invoked %d times, want MaxAttempts=4", got)
	}
	if dl.Header.Get(HeaderAttempts) != "4" || dl.Header.Get(HeaderStatus) != "503" {
		t.Errorf("dead letter headers %v", dl.Header)
	}
}

// TestAckSubjectNeverAnswered watches every $JS.ACK subject: only
// acknowledgement tokens go there, never a function's body.
func TestAckSubjectNeverAnswered(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "contact-action", answerJSON(200, `{"ok":true,"message":"BODY-MARKER"}`))
	startConnector(t, s, sourceOf(map[string][]*testFunc{"contactAction": {fn}}), nil)
	nc := connect(t, s)
	var mu sync.Mutex
	var acks []string
	sub, err := nc.Subscribe("$JS.ACK.>", func(m *nats.Msg) {
		mu.Lock()
		acks = append(acks, string(m.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	for i := 0; i < 5; i++ {
		nc.Publish("contactAction", []byte(contactOrder))
	}
	waitFor(t, 5*time.Second, "five acks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acks) >= 5
	})
	mu.Lock()
	defer mu.Unlock()
	for _, a := range acks {
		if !strings.HasPrefix(a, "+ACK") && !strings.HasPrefix(a, "-NAK") && !strings.HasPrefix(a, "+TERM") && !strings.HasPrefix(a, "+WPI") {
			t.Errorf("ack subject received %q", a)
		}
	}
}

// TestTwitterDMBothModes: a published sync goes through the stream; a
// requested deliver gets the function's body.
func TestTwitterDMBothModes(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "twitter-dm", func(_ int, w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.Contains(string(body), `"deliver"`) {
			w.Write([]byte(`{"error":false,"message":"dm sent"}`))
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"twitter_dm": {fn}}), nil)
	nc := connect(t, s)

	sync := `{"order":"sync","remote_id":"tw1","user_id":"u1"}`
	if err := nc.Publish("twitter_dm", []byte(sync)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "sync processed", func() bool { return fn.calls.Load() == 1 })
	r, body := fn.request(0)
	if string(body) != sync || r.Header.Get("X-Nats-Reply") != "false" || r.Header.Get("X-Nats-Subject") != "twitter_dm" {
		t.Errorf("sync reached the function as %s with reply=%s subject=%s", body, r.Header.Get("X-Nats-Reply"), r.Header.Get("X-Nats-Subject"))
	}
	waitFor(t, 5*time.Second, "sync acked", func() bool { return consumerState(t, nc, "twitter_dm").NumAckPending == 0 })

	reply, err := nc.Request("twitter_dm", []byte(`{"message_id":"m1","order":"deliver","remote_id":"tw1","user_id":"u1"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Data) != `{"error":false,"message":"dm sent"}` {
		t.Errorf("deliver reply = %s", reply.Data)
	}
	if fn.calls.Load() != 2 {
		t.Errorf("calls = %d, want 2", fn.calls.Load())
	}

	// A sync sent as a request is accepted and processed through the stream.
	reply, err = nc.Request("twitter_dm", []byte(sync), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply.Data) != `{"error":false,"message":"accepted"}` {
		t.Errorf("sync request reply = %s", reply.Data)
	}
	waitFor(t, 5*time.Second, "requested sync processed", func() bool { return fn.calls.Load() == 3 })
}

// TestMissingFunctionIsRetried: an event for a function not deployed yet is
// kept and processed once the function appears in the topic map.
func TestMissingFunctionIsRetried(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "imap-worker", answerJSON(200, `{"ok":true}`))
	src := &mapSource{m: TopicMap{}}
	startConnector(t, s, src, func(c *Config) { c.MaxAttempts = 50 })
	nc := connect(t, s)
	nc.Publish("imap_worker", []byte(`{"order":"add_worker","remote_id":"i1","user_id":"u1"}`))
	time.Sleep(150 * time.Millisecond)
	src.set(TopicMap{"imap_worker": {fn.target()}}, nil)
	waitFor(t, 5*time.Second, "processed after deploy", func() bool { return fn.calls.Load() == 1 })
}

// TestDrainFinishesInflight: on shutdown an in-flight request still gets its
// answer.
func TestDrainFinishesInflight(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	started := make(chan struct{})
	fn := newTestFunc(t, "smtp-deliver", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		w.Write([]byte(`{"error":false,"message":"sent"}`))
	})
	c, _, stop := runConnector(t, s, sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}}), nil)
	nc := connect(t, s)
	got := make(chan *nats.Msg, 1)
	go func() {
		r, err := nc.Request("outboundSMTP", []byte(deliverOrder), 5*time.Second)
		if err == nil {
			got <- r
		}
		close(got)
	}()
	<-started
	stop()
	if c.Ready() {
		t.Error("ready after drain")
	}
	r, ok := <-got
	if !ok || string(r.Data) != `{"error":false,"message":"sent"}` {
		t.Fatalf("in-flight request lost during drain (reply %v)", r)
	}
}
