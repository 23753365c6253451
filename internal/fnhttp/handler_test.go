package fnhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

func TestInvocationOutcomes(t *testing.T) {
	panicking := func(ctx context.Context, call *Call) (Result, error) { panic("boom") }
	tests := []struct {
		name        string
		fn          string
		subject     string // X-Nats-Subject, if any
		body        string
		core        Core
		wantStatus  int
		wantBody    string // JSON, compared as values
		wantCode    string // Nats-Service-Error-Code
		wantMsg     string // Nats-Service-Error
		wantOutcome string
	}{
		{
			name: "pubsub ok default reply", fn: "contact-action", body: contactOrder,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 200, wantBody: `{"ok":true,"message":"ok"}`, wantOutcome: "ok",
		},
		{
			name: "pubsub ok with message", fn: "contact-action", body: contactOrder,
			core:       fixedCore(Result{Message: "contact updated"}, nil, nil),
			wantStatus: 200, wantBody: `{"ok":true,"message":"contact updated"}`, wantOutcome: "ok",
		},
		{
			name: "deliver ok default reply", fn: "smtp-deliver", body: deliverOrder,
			core:       fixedCore(Result{Message: "sent"}, nil, nil),
			wantStatus: 200, wantBody: `{"error":false,"message":"sent"}`, wantOutcome: "ok",
		},
		{
			name: "deliver ok explicit reply", fn: "smtp-deliver", body: deliverOrder,
			core:       fixedCore(Result{Reply: contract.DeliverReply{Message: "queued"}}, nil, nil),
			wantStatus: 200, wantBody: `{"error":false,"message":"queued"}`, wantOutcome: "ok",
		},
		{
			name: "inbound ok", fn: "inbound-email", body: inboundOrder,
			core:       fixedCore(Result{Reply: contract.InboundReply{Message: "stored", MessageID: "m9", DiscussionID: "d9"}}, nil, nil),
			wantStatus: 200, wantBody: `{"message":"stored","message_id":"m9","discussion_id":"d9"}`, wantOutcome: "ok",
		},
		{
			name: "inbound without reply is a bad reply", fn: "inbound-email", body: inboundOrder,
			core:       fixedCore(Result{Message: "stored"}, nil, nil),
			wantStatus: 500, wantBody: `{"error":"bad_reply","message":"the function gave a malformed reply"}`,
			wantCode: "bad_reply", wantMsg: "the function gave a malformed reply", wantOutcome: "bad_reply",
		},
		{
			name: "deliver reply of the wrong shape", fn: "smtp-deliver", body: deliverOrder,
			core:       fixedCore(Result{Reply: map[string]int{"sent": 1}}, nil, nil),
			wantStatus: 500, wantBody: `{"error":true,"message":"the function gave a malformed reply"}`,
			wantCode: "bad_reply", wantOutcome: "bad_reply",
		},
		{
			name: "permanent error says why", fn: "smtp-deliver", body: deliverOrder,
			core:       fixedCore(Result{}, faults.Perm(errors.New("draft m1 has no recipient")), nil),
			wantStatus: 422, wantBody: `{"error":true,"message":"draft m1 has no recipient"}`,
			wantCode: "function_error", wantMsg: "draft m1 has no recipient", wantOutcome: "permanent",
		},
		{
			name: "permanent error with a code", fn: "inbound-email", body: inboundOrder,
			core:       fixedCore(Result{}, WithCode(faults.Perm(errors.New("no user u1")), "unknown_user"), nil),
			wantStatus: 422, wantBody: `{"error":"unknown_user","message":"no user u1"}`,
			wantCode: "unknown_user", wantMsg: "no user u1", wantOutcome: "permanent",
		},
		{
			name: "temporary error stays generic", fn: "contact-action", body: contactOrder,
			core:       fixedCore(Result{}, errors.New("dial db 10.0.0.7:5432: connection refused"), nil),
			wantStatus: 503, wantBody: `{"ok":false,"error":"function_error","message":"temporary failure, retry later"}`,
			wantCode: "function_error", wantMsg: "temporary failure, retry later", wantOutcome: "temporary",
		},
		{
			name: "throttled", fn: "smtp-deliver", body: deliverOrder,
			core:       fixedCore(Result{}, faults.Throttle(errors.New("421 too many connections")), nil),
			wantStatus: 429, wantBody: `{"error":true,"message":"overloaded, retry later"}`,
			wantCode: "overloaded", wantOutcome: "throttled",
		},
		{
			name: "deadline error", fn: "inbound-email", body: inboundOrder,
			core:       fixedCore(Result{}, fmt.Errorf("store message: %w", context.DeadlineExceeded), nil),
			wantStatus: 504, wantBody: `{"error":"timeout","message":"timed out, retry later"}`,
			wantCode: "timeout", wantOutcome: "timeout",
		},
		{
			name: "panic", fn: "contact-action", body: contactOrder, core: panicking,
			wantStatus: 500, wantBody: `{"ok":false,"error":"function_error","message":"internal error"}`,
			wantCode: "function_error", wantMsg: "internal error", wantOutcome: "panic",
		},
		{
			name: "missing field on deliver", fn: "smtp-deliver",
			body:       `{"order":"deliver","remote_id":"r1","user_id":"u1"}`,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 400, wantBody: `{"error":true,"message":"missing field \"message_id\" in order \"deliver\" on outboundSMTP"}`,
			wantCode: "missing_field", wantOutcome: "invalid",
		},
		{
			name: "bad JSON on inbound", fn: "inbound-email", body: `{"order":`,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 400, wantCode: "invalid_json", wantOutcome: "invalid",
		},
		{
			name: "unknown order on a pubsub subject", fn: "contact-action",
			body:       `{"order":"contact_delete","contact_id":"c1","user_id":"u1"}`,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 400, wantBody: `{"ok":false,"error":"unknown_order","message":"unknown order on contactAction (want one of contact_update)"}`,
			wantCode: "unknown_order", wantOutcome: "invalid",
		},
		{
			name: "unknown order on a mixed subject answers a requester", fn: "twitter-dm",
			body:       `{"order":"fetch","remote_id":"r1","user_id":"u1"}`,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 400, wantBody: `{"error":true,"message":"unknown order on twitter_dm (want one of sync, deliver)"}`,
			wantCode: "unknown_order", wantOutcome: "invalid",
		},
		{
			name: "pubsub order on a mixed subject", fn: "twitter-dm",
			body:       `{"order":"sync","remote_id":"r1","user_id":"u1"}`,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 200, wantBody: `{"ok":true,"message":"ok"}`, wantOutcome: "ok",
		},
		{
			name: "subject not served", fn: "smtp-deliver", subject: "inboundSMTP", body: inboundOrder,
			core:       fixedCore(Result{}, nil, nil),
			wantStatus: 400, wantBody: `{"error":true,"message":"function smtp-deliver does not serve the subject named in X-Nats-Subject; it serves outboundSMTP"}`,
			wantCode: "unknown_subject", wantOutcome: "invalid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := newTestHandler(t, Config{Function: tt.fn}, tt.core)
			hdr := map[string]string{"Content-Type": "application/json"}
			if tt.subject != "" {
				hdr[HeaderSubject] = tt.subject
			}
			w := post(h, "/", tt.body, hdr)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tt.wantBody != "" {
				var got, want any
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatalf("body %q: %v", w.Body, err)
				}
				if err := json.Unmarshal([]byte(tt.wantBody), &want); err != nil {
					t.Fatalf("wantBody: %v", err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body = %s, want %s", w.Body, tt.wantBody)
				}
			}
			if got := w.Header().Get(HeaderServiceErrorCode); got != tt.wantCode {
				t.Errorf("%s = %q, want %q", HeaderServiceErrorCode, got, tt.wantCode)
			}
			gotMsg := w.Header().Get(HeaderServiceError)
			if tt.wantCode == "" && gotMsg != "" {
				t.Errorf("%s = %q on success, want none", HeaderServiceError, gotMsg)
			}
			if tt.wantCode != "" && gotMsg == "" {
				t.Errorf("%s missing on failure", HeaderServiceError)
			}
			if tt.wantMsg != "" && gotMsg != tt.wantMsg {
				t.Errorf("%s = %q, want %q", HeaderServiceError, gotMsg, tt.wantMsg)
			}
			line := logs.invocation(t)
			if line["outcome"] != tt.wantOutcome {
				t.Errorf("log outcome = %v, want %s", line["outcome"], tt.wantOutcome)
			}
			if line["status"] != float64(tt.wantStatus) {
				t.Errorf("log status = %v, want %d", line["status"], tt.wantStatus)
			}
			if line["fn"] != tt.fn {
				t.Errorf("log fn = %v, want %s", line["fn"], tt.fn)
			}
			if _, hasErr := line["err"]; hasErr != (tt.wantOutcome != "ok") {
				t.Errorf("log err present = %v, want %v", hasErr, tt.wantOutcome != "ok")
			}
		})
	}
}

func TestTemporaryDetailsOnlyInLog(t *testing.T) {
	h, logs := newTestHandler(t, Config{Function: "contact-action"},
		fixedCore(Result{}, errors.New("dial db 10.0.0.7:5432: connection refused"), nil))
	w := post(h, "/", contactOrder, nil)
	if strings.Contains(w.Body.String(), "10.0.0.7") || strings.Contains(w.Header().Get(HeaderServiceError), "10.0.0.7") {
		t.Errorf("answer leaks the temporary error's details: %s", w.Body)
	}
	if got := logs.invocation(t)["err"]; got != "dial db 10.0.0.7:5432: connection refused" {
		t.Errorf("log err = %v, want the full error", got)
	}
}

func TestPanicLoggedWithStack(t *testing.T) {
	h, logs := newTestHandler(t, Config{Function: "contact-action"},
		func(ctx context.Context, call *Call) (Result, error) { panic("boom") })
	post(h, "/", contactOrder, nil)
	line := logs.invocation(t)
	if line["level"] != "ERROR" || line["err"] != "panic: boom" {
		t.Errorf("log = %v, want level ERROR and err \"panic: boom\"", line)
	}
	if stack, _ := line["stack"].(string); !strings.Contains(stack, "handler_test.go") {
		t.Errorf("log stack = %q, want the panicking frame", stack)
	}
}

func TestMethodsAndHealth(t *testing.T) {
	h, logs := newTestHandler(t, Config{Function: "contact-action"}, fixedCore(Result{}, nil, nil))
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
	}{
		{http.MethodGet, "/_/health", 200, "ok"},
		{http.MethodGet, "/healthz", 200, "ok"},
		{http.MethodHead, "/healthz", 200, ""},
		{http.MethodGet, "/", 405, ""},
		{http.MethodPut, "/anything", 405, ""},
		{http.MethodDelete, "/_/health", 405, ""},
		{http.MethodPost, "/any/path/at/all", 200, ""},
		{http.MethodPost, "/healthz", 200, ""}, // a POST is an invocation, whatever the path
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, _ := http.NewRequest(tt.method, tt.path, strings.NewReader(contactOrder))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, w.Code, tt.wantStatus)
			}
			if tt.wantBody != "" && w.Body.String() != tt.wantBody {
				t.Errorf("%s %s body = %q, want %q", tt.method, tt.path, w.Body, tt.wantBody)
			}
			if tt.wantStatus == 405 && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST")
			}
		})
	}
	if n := len(logs.lines(t)); n != 2 {
		t.Errorf("got %d log lines, want 2 (the two POSTs only)", n)
	}
}

// TestCoreContextCarriesCorrelationID: the orders a core sends repeat the
// invocation's correlation id.
func TestCoreContextCarriesCorrelationID(t *testing.T) {
	got := make(chan string, 1)
	h, _ := newTestHandler(t, Config{Function: "contact-action"}, func(ctx context.Context, call *Call) (Result, error) {
		got <- contract.CorrelationID(ctx)
		return Result{}, nil
	})
	post(h, "/", contactOrder, map[string]string{HeaderCorrelationID: "corr-9"})
	if id := <-got; id != "corr-9" {
		t.Errorf("core's context carries %q, want corr-9", id)
	}
}
