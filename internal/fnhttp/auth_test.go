package fnhttp

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/invokeauth"
)

// TestInvocationSignature: with keys configured, only a call signed for this
// function, this body, this subject and correlation id, within the validity
// window, reaches the core; every other call gets 401 and no core call.
func TestInvocationSignature(t *testing.T) {
	keys, err := invokeauth.ParseKeys(strings.Repeat("k", 40))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := invokeauth.ParseKeys(strings.Repeat("o", 40))
	call := invokeauth.Call{Method: http.MethodPost, Function: "smtp-deliver", Subject: "outboundSMTP",
		CorrelationID: "c-1", Body: []byte(deliverOrder)}
	signed := func(k *invokeauth.Keys, at time.Time, c invokeauth.Call) map[string]string {
		return map[string]string{invokeauth.Header: k.Sign(at, c), HeaderSubject: "outboundSMTP", HeaderCorrelationID: "c-1"}
	}
	with := func(f func(*invokeauth.Call)) invokeauth.Call {
		c := call
		f(&c)
		return c
	}
	now := time.Now()
	tests := []struct {
		name   string
		header map[string]string
		body   string
		want   int
	}{
		{"signed", signed(keys, now, call), deliverOrder, http.StatusOK},
		{"no signature", map[string]string{HeaderSubject: "outboundSMTP"}, deliverOrder, http.StatusUnauthorized},
		{"malformed", map[string]string{invokeauth.Header: "t=1,v1=zz"}, deliverOrder, http.StatusUnauthorized},
		{"other key", signed(other, now, call), deliverOrder, http.StatusUnauthorized},
		{"other body", signed(keys, now, call), strings.Replace(deliverOrder, "u1", "u2", 1), http.StatusUnauthorized},
		{"other function", signed(keys, now, with(func(c *invokeauth.Call) { c.Function = "imap-deliver" })), deliverOrder, http.StatusUnauthorized},
		{"other correlation id", signed(keys, now, with(func(c *invokeauth.Call) { c.CorrelationID = "c-2" })), deliverOrder, http.StatusUnauthorized},
		{"other subject", signed(keys, now, with(func(c *invokeauth.Call) { c.Subject = "outboundIMAP" })), deliverOrder, http.StatusUnauthorized},
		{"expired", signed(keys, now.Add(-invokeauth.MaxAge-time.Second), call), deliverOrder, http.StatusUnauthorized},
		{"from the future", signed(keys, now.Add(invokeauth.MaxSkew+2*time.Second), call), deliverOrder, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan *Call, 1)
			h, logs := newTestHandler(t, Config{Function: "smtp-deliver", Keys: keys}, fixedCore(Result{}, nil, calls))
			w := post(h, "/", tt.body, tt.header)
			if w.Code != tt.want {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tt.want)
			}
			if tt.want == http.StatusOK {
				if len(calls) != 1 {
					t.Error("the core was not called")
				}
				return
			}
			if len(calls) != 0 {
				t.Error("the core was called for an unauthenticated invocation")
			}
			if got := w.Header().Get(HeaderServiceErrorCode); got != CodeUnauthorized {
				t.Errorf("error code %q, want %q", got, CodeUnauthorized)
			}
			if m := decodeBody(t, w); m["error"] != true || !strings.Contains(m["message"].(string), "not authenticated") {
				t.Errorf("body %s, want a deliver error reply saying why", w.Body)
			}
			if strings.Contains(w.Body.String(), "u1") || strings.Contains(w.Body.String(), "v1=") {
				t.Errorf("body %s echoes the caller's input", w.Body)
			}
			if line := logs.invocation(t); line["outcome"] != outcomeUnauthenticated || line["status"] != float64(401) {
				t.Errorf("log line %v", line)
			}
		})
	}
}

// TestInvocationSignatureTooLarge: an oversized body is refused with 413
// while checking its signature, not read whole.
func TestInvocationSignatureTooLarge(t *testing.T) {
	keys, _ := invokeauth.ParseKeys(strings.Repeat("k", 40))
	body := strings.Repeat(" ", 2048) + contactOrder
	h, _ := newTestHandler(t, Config{Function: "contact-action", Keys: keys, MaxBodyBytes: 1024}, fixedCore(Result{}, nil, nil))
	w := post(h, "/", body, map[string]string{invokeauth.Header: keys.Sign(time.Now(),
		invokeauth.Call{Method: http.MethodPost, Function: "contact-action", Body: []byte(body)})})
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d %s, want 413", w.Code, w.Body)
	}
}

// TestPermanentReplyWithoutChain: a permanent error's reply says the
// error's own words, not the causes it wraps; the log keeps the chain. A
// core may set the reply's message itself.
func TestPermanentReplyWithoutChain(t *testing.T) {
	inner := errors.New(`sql: no rows in result set (SELECT * FROM messages WHERE id = 'm1')`)
	err := WithCode(faults.Perm(fmt.Errorf("load draft m1: %w", fmt.Errorf("store: %w", inner))), "unknown_message")
	h, logs := newTestHandler(t, Config{Function: "smtp-deliver"}, fixedCore(Result{}, err, nil))
	w := post(h, "/", deliverOrder, nil)
	if m := decodeBody(t, w); m["message"] != "load draft m1" || w.Header().Get(HeaderServiceError) != "load draft m1" {
		t.Errorf("reply %s / header %q, want the outermost error's words only", w.Body, w.Header().Get(HeaderServiceError))
	}
	if line := logs.invocation(t); !strings.Contains(fmt.Sprint(line["err"]), "SELECT") {
		t.Errorf("log line %v lost the chain", line)
	}
	err = WithMessage(faults.Perm(fmt.Errorf("send m1: %w", errors.New("550 no such user"))), "the relay refused m1: 550 no such user")
	h, _ = newTestHandler(t, Config{Function: "smtp-deliver"}, fixedCore(Result{}, err, nil))
	if m := decodeBody(t, post(h, "/", deliverOrder, nil)); m["message"] != "the relay refused m1: 550 no such user" {
		t.Errorf("reply %v, want the message set by the core", m)
	}
}
