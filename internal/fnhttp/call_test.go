package fnhttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCallMetadata(t *testing.T) {
	tests := []struct {
		name        string
		header      map[string]string
		wantCorrID  string // "*": generated, non-empty
		wantAttempt int
		wantWarn    string
	}{
		{"nothing given", nil, "*", 1, ""},
		{"correlation id wins", map[string]string{HeaderCorrelationID: "corr-1", HeaderCallID: "call-1", "Ce-Id": "ce-1"}, "corr-1", 1, ""},
		{"call id next", map[string]string{HeaderCallID: "call-1", "Ce-Id": "ce-1"}, "call-1", 1, ""},
		{"ce-id last", map[string]string{"Ce-Id": "ce-1"}, "ce-1", 1, ""},
		{"attempt", map[string]string{HeaderDeliveryAttempt: "3"}, "*", 3, ""},
		{"malformed attempt", map[string]string{HeaderDeliveryAttempt: "zero"}, "*", 1, "ignored malformed X-Delivery-Attempt"},
		{"attempt below one", map[string]string{HeaderDeliveryAttempt: "0"}, "*", 1, "ignored malformed X-Delivery-Attempt"},
		{"malformed deadline", map[string]string{HeaderDeadline: "tomorrow"}, "*", 1, "ignored malformed X-Caliopen-Deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan *Call, 1)
			h, logs := newTestHandler(t, Config{Function: "contact-action"}, fixedCore(Result{}, nil, calls))
			w := post(h, "/", contactOrder, tt.header)
			if w.Code != 200 {
				t.Fatalf("status = %d, want 200 (%s)", w.Code, w.Body)
			}
			call := <-calls
			switch {
			case tt.wantCorrID == "*" && call.CorrelationID == "":
				t.Errorf("corr id is empty, want a generated one")
			case tt.wantCorrID != "*" && call.CorrelationID != tt.wantCorrID:
				t.Errorf("corr id = %q, want %q", call.CorrelationID, tt.wantCorrID)
			}
			if got := w.Header().Get(HeaderCorrelationID); got != call.CorrelationID {
				t.Errorf("response %s = %q, want %q", HeaderCorrelationID, got, call.CorrelationID)
			}
			if call.Attempt != tt.wantAttempt {
				t.Errorf("attempt = %d, want %d", call.Attempt, tt.wantAttempt)
			}
			if call.Function != "contact-action" || call.Request.Order.Name != "contact_update" {
				t.Errorf("call = %+v, want contact-action / contact_update", call)
			}
			line := logs.invocation(t)
			if line["corr_id"] != call.CorrelationID || line["attempt"] != float64(tt.wantAttempt) || line["user_id"] != "u1" {
				t.Errorf("log = %v, want corr_id %q, attempt %d, user_id u1", line, call.CorrelationID, tt.wantAttempt)
			}
			if got, _ := line["warn"].(string); got != tt.wantWarn {
				t.Errorf("log warn = %q, want %q", got, tt.wantWarn)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	type seen struct {
		call        *Call
		ctxDeadline time.Time
	}
	record := func(out chan<- seen) Core {
		return func(ctx context.Context, call *Call) (Result, error) {
			d, _ := ctx.Deadline()
			out <- seen{call, d}
			return Result{}, nil
		}
	}
	t.Run("caller deadline before the timeout", func(t *testing.T) {
		out := make(chan seen, 1)
		h, _ := newTestHandler(t, Config{Function: "contact-action", Timeout: time.Hour}, record(out))
		want := time.Now().Add(20 * time.Second).UTC().Truncate(time.Microsecond)
		w := post(h, "/", contactOrder, map[string]string{HeaderDeadline: want.Format(time.RFC3339Nano)})
		if w.Code != 200 {
			t.Fatalf("status = %d", w.Code)
		}
		s := <-out
		if !s.call.Deadline.Equal(want) {
			t.Errorf("Call.Deadline = %v, want the header's %v", s.call.Deadline, want)
		}
		if !s.ctxDeadline.Before(want) || want.Sub(s.ctxDeadline) > replyMargin {
			t.Errorf("ctx deadline = %v, want within %v before %v", s.ctxDeadline, replyMargin, want)
		}
	})
	t.Run("timeout before the caller deadline", func(t *testing.T) {
		out := make(chan seen, 1)
		h, _ := newTestHandler(t, Config{Function: "contact-action", Timeout: 2 * time.Second}, record(out))
		before := time.Now()
		far := before.Add(time.Hour).Format(time.RFC3339Nano)
		post(h, "/", contactOrder, map[string]string{HeaderDeadline: far})
		s := <-out
		if d := s.call.Deadline.Sub(before); d < 2*time.Second || d > 3*time.Second {
			t.Errorf("Call.Deadline is %v after the request, want about the 2s timeout", d)
		}
	})
	t.Run("caller deadline already passed", func(t *testing.T) {
		out := make(chan seen, 1)
		h, logs := newTestHandler(t, Config{Function: "smtp-deliver"}, record(out))
		past := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
		w := post(h, "/", deliverOrder, map[string]string{HeaderDeadline: past})
		if w.Code != http.StatusGatewayTimeout || w.Header().Get(HeaderServiceErrorCode) != "timeout" {
			t.Errorf("status = %d, code %q, want 504 timeout", w.Code, w.Header().Get(HeaderServiceErrorCode))
		}
		if len(out) != 0 {
			t.Errorf("core called after the caller's deadline")
		}
		if got := logs.invocation(t)["outcome"]; got != "timeout" {
			t.Errorf("log outcome = %v, want timeout", got)
		}
	})
}

func TestTimeouts(t *testing.T) {
	t.Run("core honours its context", func(t *testing.T) {
		h, logs := newTestHandler(t, Config{Function: "smtp-deliver", Timeout: 50 * time.Millisecond},
			func(ctx context.Context, call *Call) (Result, error) {
				<-ctx.Done()
				return Result{}, ctx.Err()
			})
		w := post(h, "/", deliverOrder, nil)
		if w.Code != http.StatusGatewayTimeout {
			t.Errorf("status = %d, want 504", w.Code)
		}
		if got := decodeBody(t, w); got["error"] != true || got["message"] != msgTimeout {
			t.Errorf("body = %v, want a DeliverReply error", got)
		}
		if got := logs.invocation(t)["outcome"]; got != "timeout" {
			t.Errorf("log outcome = %v, want timeout", got)
		}
	})
	t.Run("core ignores its context", func(t *testing.T) {
		release := make(chan struct{})
		returned := make(chan struct{})
		h, logs := newTestHandler(t, Config{Function: "inbound-email", Timeout: 50 * time.Millisecond},
			func(ctx context.Context, call *Call) (Result, error) {
				defer close(returned)
				<-release
				return Result{}, nil
			})
		w := post(h, "/", inboundOrder, nil)
		close(release)
		<-returned
		if w.Code != http.StatusGatewayTimeout {
			t.Errorf("status = %d, want 504 at the deadline", w.Code)
		}
		if got := decodeBody(t, w)["error"]; got != "timeout" {
			t.Errorf("body error = %v, want timeout (InboundReply shape)", got)
		}
		logs.invocation(t) // still exactly one line
	})
	t.Run("core returning after the answer is logged", func(t *testing.T) {
		release := make(chan struct{})
		logs := &logBuf{}
		logged := logs.watch("core returned after its deadline")
		h := newHandlerWithLogs(t, Config{Function: "contact-action", Timeout: 50 * time.Millisecond}, logs,
			func(ctx context.Context, call *Call) (Result, error) {
				<-release
				return Result{}, nil
			})
		if w := post(h, "/", contactOrder, nil); w.Code != http.StatusGatewayTimeout {
			t.Errorf("status = %d, want 504", w.Code)
		}
		close(release)
		<-logged
	})
	t.Run("panic after the answer is logged", func(t *testing.T) {
		release := make(chan struct{})
		logs := &logBuf{}
		logged := logs.watch("late panic")
		h := newHandlerWithLogs(t, Config{Function: "contact-action", Timeout: 50 * time.Millisecond}, logs,
			func(ctx context.Context, call *Call) (Result, error) {
				<-release
				panic("late boom")
			})
		w := post(h, "/", contactOrder, nil)
		close(release)
		<-logged
		if w.Code != http.StatusGatewayTimeout {
			t.Errorf("status = %d, want 504", w.Code)
		}
		var late map[string]any
		for _, m := range logs.lines(t) {
			if m["msg"] == "late panic" {
				late = m
			}
		}
		if late["err"] != "late boom" || late["corr_id"] == "" || late["fn"] != "contact-action" {
			t.Errorf("late panic line = %v", late)
		}
	})
	t.Run("caller goes away", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		h, logs := newTestHandler(t, Config{Function: "contact-action"},
			func(cctx context.Context, call *Call) (Result, error) {
				cancel()
				<-cctx.Done()
				return Result{}, cctx.Err()
			})
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(contactOrder))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", w.Code)
		}
		line := logs.invocation(t)
		if err, _ := line["err"].(string); line["outcome"] != "temporary" || !strings.Contains(err, context.Canceled.Error()) {
			t.Errorf("log = %v, want a temporary outcome naming the cancellation", line)
		}
	})
}

func TestCoreDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		remaining, want time.Duration
	}{
		{30 * time.Second, 30*time.Second - replyMargin},
		{time.Second, 900 * time.Millisecond},
		{0, 0},
		{-time.Second, -time.Second},
	}
	for _, tt := range tests {
		if got := coreDeadline(now, now.Add(tt.remaining)).Sub(now); got != tt.want {
			t.Errorf("coreDeadline(now, now+%v) = now+%v, want now+%v", tt.remaining, got, tt.want)
		}
	}
}

func TestWithCode(t *testing.T) {
	if WithCode(nil, "x") != nil {
		t.Errorf("WithCode(nil) != nil")
	}
	base := errors.New("base")
	err := WithCode(base, "unknown_user")
	if !errors.Is(err, base) || err.Error() != "base" || codeOf(err, "def") != "unknown_user" {
		t.Errorf("WithCode(base) = %v (code %q), want to wrap base with code unknown_user", err, codeOf(err, "def"))
	}
	if got := codeOf(base, "def"); got != "def" {
		t.Errorf("codeOf(plain) = %q, want def", got)
	}
}
