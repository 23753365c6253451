package fnhttp

import (
	"context"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/contract"
)

// TestLogNeverHoldsPayload sends a marker in every place of a body that the
// adapter might be tempted to log and checks that it never reaches the log,
// while the log still says what happened.
func TestLogNeverHoldsPayload(t *testing.T) {
	const secret = "SECRET-7f3a9c"
	echo := func(ctx context.Context, call *Call) (Result, error) {
		// A core that echoes a payload value in its reply: the reply is not logged.
		return Result{Reply: contract.DeliverReply{Message: "sent " + secret}}, nil
	}
	tests := []struct {
		name, fn, body string
		header         map[string]string
		core           Core
		wantOutcome    string
	}{
		{
			name: "unknown field on success", fn: "contact-action",
			body:        `{"order":"contact_update","contact_id":"c1","user_id":"u1","note":"` + secret + `"}`,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "ok",
		},
		{
			name: "reply echoing the payload", fn: "smtp-deliver",
			body:        `{"order":"deliver","message_id":"` + secret + `","remote_id":"r1","user_id":"u1"}`,
			core:        echo,
			wantOutcome: "ok",
		},
		{
			name: "unknown order name", fn: "contact-action",
			body:        `{"order":"` + secret + `","contact_id":"c1","user_id":"u1"}`,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "invalid",
		},
		{
			name: "malformed minutes value", fn: "identities-orders",
			body:        `{"order":"update_interval","identity_id":"i1","poll_intervall":"` + secret + `","protocol":"imap","user_id":"u1"}`,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "invalid",
		},
		{
			name: "truncated JSON", fn: "smtp-deliver",
			body:        `{"order":"deliver","user_id":"u1","message_id":"` + secret,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "invalid",
		},
		{
			name: "structured CloudEvent", fn: "contact-action",
			header: map[string]string{"Content-Type": "application/cloudevents+json"},
			body: `{"specversion":"1.0","id":"e1","type":"t","source":"s","datacontenttype":"application/json",` +
				`"data":{"order":"contact_update","contact_id":"` + secret + `","user_id":"u1"}}`,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "ok",
		},
		{
			name: "body too large", fn: "contact-action",
			body:        `{"order":"contact_update","contact_id":"c1","user_id":"u1","pad":"` + strings.Repeat(secret, 200000) + `"}`,
			core:        fixedCore(Result{}, nil, nil),
			wantOutcome: "invalid",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := newTestHandler(t, Config{Function: tt.fn}, tt.core)
			post(h, "/", tt.body, tt.header)
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("log holds a payload value:\n%s", logs)
			}
			line := logs.invocation(t)
			if line["outcome"] != tt.wantOutcome {
				t.Errorf("log outcome = %v, want %s", line["outcome"], tt.wantOutcome)
			}
			if tt.wantOutcome == "ok" && line["user_id"] != "u1" {
				t.Errorf("log user_id = %v, want u1", line["user_id"])
			}
		})
	}
}

func TestSafeValidationKeepsTheFacts(t *testing.T) {
	h, logs := newTestHandler(t, Config{Function: "smtp-deliver"}, fixedCore(Result{}, nil, nil))
	post(h, "/", `{"order":"deliver","message_id":7,"remote_id":"r1","user_id":"u1"}`, nil)
	line := logs.invocation(t)
	if line["err"] != `invalid_field on outboundSMTP: field "message_id"` || line["order"] != "deliver" {
		t.Errorf("log = %v, want the code, the field and the known order", line)
	}
}

func TestHeaderText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"two\r\nlines", "two  lines"},
		{strings.Repeat("é", 200), strings.Repeat("é", 128)},
	}
	for _, tt := range tests {
		if got := headerText(tt.in); got != tt.want {
			t.Errorf("headerText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
