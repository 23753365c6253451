package connector

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
)

const deliverOrder = `{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`

func TestRequestGetsFunctionBody(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	fn := newTestFunc(t, "smtp-deliver", answerJSON(200, `{"error":false,"message":"sent m1"}`))
	startConnector(t, s, sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}}), nil)
	nc := connect(t, s)

	msg := nats.NewMsg("outboundSMTP")
	msg.Data = []byte(deliverOrder)
	msg.Header.Set(HeaderCorrelationID, "corr-42")
	msg.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	reply, err := nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(reply.Data); got != `{"error":false,"message":"sent m1"}` {
		t.Errorf("reply = %s, want the function's body", got)
	}
	if reply.Header.Get(HeaderServiceErrorCode) != "" {
		t.Errorf("success reply carries error header %q", reply.Header.Get(HeaderServiceErrorCode))
	}
	r, body := fn.request(0)
	if string(body) != deliverOrder {
		t.Errorf("function got body %s, want the original JSON", body)
	}
	wantHeaders := map[string]string{
		"Ce-Specversion": "1.0", "Ce-Type": "caliopen.order.deliver", "Ce-Source": "/nats/outboundSMTP",
		"Ce-Subject": "outboundSMTP", "X-Nats-Subject": "outboundSMTP", "X-Nats-Queue": "SMTPqueue",
		"X-Delivery-Attempt": "1", "X-Correlation-Id": "corr-42", "X-Nats-Reply": "true",
		"Content-Type": "application/json",
		"Traceparent":  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
	}
	for k, want := range wantHeaders {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if r.Header.Get("Ce-Id") == "" {
		t.Error("Ce-Id missing")
	}
	dl, err := time.Parse(time.RFC3339Nano, r.Header.Get("X-Caliopen-Deadline"))
	if err != nil {
		t.Fatalf("X-Caliopen-Deadline: %v", err)
	}
	if until := time.Until(dl); until <= 25*time.Second || until > 30*time.Second {
		t.Errorf("deadline in %s, want just under the 30 s deliver deadline", until)
	}
}

// TestRequestErrors: every request gets a reply in the contract's shape
// naming the problem, without invoking anything for invalid payloads.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	deliver := newTestFunc(t, "smtp-deliver", answerJSON(200, `{"error":false,"message":"ok"}`))
	inbound := newTestFunc(t, "inbound-email", answerJSON(200, `{"message":"stored","message_id":"x","discussion_id":"d"}`))
	src := sourceOf(map[string][]*testFunc{"outboundSMTP": {deliver}, "inboundSMTP": {inbound}})
	startConnector(t, s, src, nil)
	nc := connect(t, s)

	tests := []struct {
		name, subject, body, code, mention string
	}{
		{"bad json", "outboundSMTP", `{"order":"deliver",`, contract.CodeInvalidJSON, "invalid JSON"},
		{"not an object", "outboundSMTP", `[1,2]`, contract.CodeInvalidJSON, "invalid JSON"},
		{"empty", "inboundSMTP", ``, contract.CodeInvalidJSON, "empty body"},
		{"missing field", "outboundSMTP", `{"order":"deliver","remote_id":"i1","user_id":"u1"}`, contract.CodeMissingField, `"message_id"`},
		{"empty field", "inboundSMTP", `{"message_id":"","order":"process_inbound","remote_id":"i","user_id":"u"}`, contract.CodeMissingField, `"message_id"`},
		{"wrong type", "outboundSMTP", `{"message_id":7,"order":"deliver","remote_id":"i1","user_id":"u1"}`, contract.CodeInvalidField, `"message_id"`},
		{"unknown order", "outboundSMTP", `{"order":"explode","user_id":"u1"}`, contract.CodeUnknownOrder, "want one of deliver"},
		{"no order", "inboundSMTP", `{"user_id":"u1"}`, contract.CodeMissingField, `"order"`},
		{"no function yet", "outboundIMAP", deliverOrder, contract.CodeNoFunction, "outboundIMAP"},
		{"no function yet, inbound", "inboundTwitter", `{"message_id":"m","order":"process_inbound","remote_id":"i","user_id":"u"}`, contract.CodeNoFunction, "inboundTwitter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			reply, err := nc.Request(tt.subject, []byte(tt.body), 2*time.Second)
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			if time.Since(start) > time.Second {
				t.Errorf("reply took %s", time.Since(start))
			}
			if got := reply.Header.Get(HeaderServiceErrorCode); got != tt.code {
				t.Errorf("error code = %q, want %q", got, tt.code)
			}
			if !strings.Contains(reply.Header.Get(HeaderServiceError), tt.mention) {
				t.Errorf("error %q does not mention %s", reply.Header.Get(HeaderServiceError), tt.mention)
			}
			kind := contract.Caliopen().Subjects[0].Reply()
			if sub, _ := contract.Caliopen().Subject(tt.subject); sub != nil {
				kind = sub.Reply()
			}
			failed, err := contract.CheckReply(kind, reply.Data)
			if err != nil || !failed {
				t.Fatalf("reply %s is not a failure of shape %s (%v)", reply.Data, kind, err)
			}
			var body map[string]any
			_ = json.Unmarshal(reply.Data, &body)
			if !strings.Contains(body["message"].(string), tt.mention) {
				t.Errorf("reply message %q does not mention %s", body["message"], tt.mention)
			}
			if strings.Contains(string(reply.Data), "explode") {
				t.Errorf("reply %s echoes the caller's order name", reply.Data)
			}
			if kind == contract.ReplyInbound && body["error"] != tt.code {
				t.Errorf("inbound reply error = %v, want %q", body["error"], tt.code)
			}
		})
	}
	if n := deliver.calls.Load() + inbound.calls.Load(); n != 0 {
		t.Errorf("functions invoked %d times for invalid requests", n)
	}
}

func TestRequestFunctionFailures(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	tests := []struct {
		name    string
		answer  func(int, http.ResponseWriter, *http.Request, []byte)
		code    string
		body    string // exact reply when it must pass through
		failure bool
	}{
		{"error reply passes through", func(_ int, w http.ResponseWriter, _ *http.Request, _ []byte) {
			w.Header().Set(HeaderServiceErrorCode, "draft_not_found")
			w.WriteHeader(422)
			w.Write([]byte(`{"error":true,"message":"draft m1 not found"}`))
		}, "draft_not_found", `{"error":true,"message":"draft m1 not found"}`, true},
		{"500 without body", answerJSON(500, ``), contract.CodeFailed, "", true},
		{"404 from gateway", answerJSON(404, `function not found`), contract.CodeNoFunction, "", true},
		{"malformed success", answerJSON(200, `{"sent":true}`), contract.CodeBadReply, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := newTestFunc(t, "smtp-deliver", tt.answer)
			src := sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}})
			startConnector(t, s, src, nil)
			nc := connect(t, s)
			reply, err := nc.Request("outboundSMTP", []byte(deliverOrder), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if got := reply.Header.Get(HeaderServiceErrorCode); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
			if tt.body != "" && string(reply.Data) != tt.body {
				t.Errorf("reply = %s, want %s", reply.Data, tt.body)
			}
			if failed, err := contract.CheckReply(contract.ReplyDeliver, reply.Data); err != nil || failed != tt.failure {
				t.Errorf("reply %s: failed=%v err=%v", reply.Data, failed, err)
			}
		})
	}
}

// TestSlowFunctionDeadline: the requester gets an error reply before its own
// timeout when the function is slower than the deadline.
func TestSlowFunctionDeadline(t *testing.T) {
	s := startNATS(t)
	release := make(chan struct{})
	defer close(release)
	fn := newTestFunc(t, "inbound-email", func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	startConnector(t, s, sourceOf(map[string][]*testFunc{"inboundSMTP": {fn}}), nil)
	nc := connect(t, s)

	msg := nats.NewMsg("inboundSMTP")
	msg.Data = []byte(`{"message_id":"raw1","order":"process_inbound","remote_id":"i1","user_id":"u1"}`)
	msg.Header.Set(HeaderTimeout, "1500ms")
	start := time.Now()
	reply, err := nc.RequestMsg(msg, 1500*time.Millisecond)
	if err != nil {
		t.Fatalf("requester timed out without a reply: %v", err)
	}
	took := time.Since(start)
	if got := reply.Header.Get(HeaderServiceErrorCode); got != contract.CodeTimeout {
		t.Errorf("code = %q, want %q", got, contract.CodeTimeout)
	}
	var r contract.InboundReply
	if err := json.Unmarshal(reply.Data, &r); err != nil || r.Error != contract.CodeTimeout {
		t.Errorf("reply %s, want an inbound error reply with error %q", reply.Data, contract.CodeTimeout)
	}
	if took < time.Second || took >= 1500*time.Millisecond {
		t.Errorf("reply after %s, want between 1 s and the requester's 1.5 s", took)
	}
}

// TestTwoConnectorsShareQueueGroup: two instances split the requests and
// each request is answered exactly once.
func TestTwoConnectorsShareQueueGroup(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	var mu sync.Mutex
	seen := map[string]int{}
	fn := newTestFunc(t, "smtp-deliver", func(_ int, w http.ResponseWriter, r *http.Request, _ []byte) {
		mu.Lock()
		seen[r.Header.Get("X-Correlation-Id")]++
		mu.Unlock()
		w.Write([]byte(`{"error":false,"message":"ok"}`))
	})
	src := sourceOf(map[string][]*testFunc{"outboundSMTP": {fn}})
	_, regA := startConnector(t, s, src, nil)
	_, regB := startConnector(t, s, src, nil)
	nc := connect(t, s)

	const n = 200
	inbox := nats.NewInbox()
	replies := make(chan *nats.Msg, 2*n)
	sub, err := nc.ChanSubscribe(inbox, replies)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := 0; i < n; i++ {
		m := nats.NewMsg("outboundSMTP")
		m.Reply = inbox
		m.Data = []byte(deliverOrder)
		m.Header.Set(HeaderCorrelationID, "c"+string(rune('A'+i%26))+time.Now().Format("150405.000000000"))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case <-replies:
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d replies, want %d", i, n)
		}
	}
	select {
	case extra := <-replies:
		t.Fatalf("extra reply %s", extra.Data)
	case <-time.After(100 * time.Millisecond):
	}
	a := counterValue(t, regA, "caliopen_connector_replies_total")
	b := counterValue(t, regB, "caliopen_connector_replies_total")
	if a+b != n || a == 0 || b == 0 {
		t.Errorf("replies split %v/%v, want both instances to share %d", a, b, n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("request %s invoked %d times", id, c)
		}
	}
}
