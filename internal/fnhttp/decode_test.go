package fnhttp

import (
	"encoding/base64"
	"strings"
	"testing"
)

// twoSubjects serves two request/reply subjects, so the subject must be named.
func twoSubjects() Config {
	return Config{Function: "deliver-test", Subjects: []string{"outboundSMTP", "outboundIMAP"}}
}

func TestBodyEncodingsAndSubject(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(deliverOrder))
	binary := map[string]string{
		"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Id": "ev-1",
		"Ce-Type": "caliopen.order", "Ce-Source": "/nats/outboundIMAP", "Ce-Natssubject": "outboundIMAP",
	}
	structured := map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"}
	tests := []struct {
		name        string
		header      map[string]string
		body        string
		wantStatus  int
		wantSubject string
		wantCorrID  string
	}{
		{
			name: "plain JSON with subject header", body: deliverOrder,
			header:     map[string]string{"Content-Type": "application/json", HeaderSubject: "outboundIMAP"},
			wantStatus: 200, wantSubject: "outboundIMAP",
		},
		{
			name: "plain JSON without content type", body: deliverOrder,
			header:     map[string]string{HeaderSubject: "outboundSMTP"},
			wantStatus: 200, wantSubject: "outboundSMTP",
		},
		{
			name: "text/plain as faas-cli invoke sends", body: deliverOrder,
			header:     map[string]string{"Content-Type": "text/plain", HeaderSubject: "outboundSMTP"},
			wantStatus: 200, wantSubject: "outboundSMTP",
		},
		{
			name: "binary CloudEvent names the subject by extension", body: deliverOrder,
			header: binary, wantStatus: 200, wantSubject: "outboundIMAP", wantCorrID: "ev-1",
		},
		{
			name: "header wins over the extension", body: deliverOrder,
			header:     merge(binary, map[string]string{HeaderSubject: "outboundSMTP"}),
			wantStatus: 200, wantSubject: "outboundSMTP", wantCorrID: "ev-1",
		},
		{
			name:   "structured CloudEvent with data",
			header: structured,
			body: `{"specversion":"1.0","id":"ev-2","type":"caliopen.order","source":"/nats","natssubject":"outboundSMTP",` +
				`"datacontenttype":"application/json","data":` + deliverOrder + `}`,
			wantStatus: 200, wantSubject: "outboundSMTP", wantCorrID: "ev-2",
		},
		{
			name:   "structured CloudEvent with data_base64",
			header: structured,
			body: `{"specversion":"1.0","id":"ev-3","type":"caliopen.order","source":"/nats","natssubject":"outboundIMAP",` +
				`"data_base64":"` + b64 + `"}`,
			wantStatus: 200, wantSubject: "outboundIMAP", wantCorrID: "ev-3",
		},
		{
			name: "structured CloudEvent that is not JSON", header: structured, body: `{"specversion":`,
			wantStatus: 400,
		},
		{
			name: "CloudEvents batch mode", body: `[]`,
			header:     map[string]string{"Content-Type": "application/cloudevents-batch+json", HeaderSubject: "outboundSMTP"},
			wantStatus: 400,
		},
		{
			name: "no subject and two served", body: deliverOrder,
			header: map[string]string{"Content-Type": "application/json"}, wantStatus: 400,
		},
		{
			name: "binary CloudEvent with no data", header: binary, wantStatus: 400, wantSubject: "outboundIMAP",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make(chan *Call, 1)
			h, logs := newTestHandler(t, twoSubjects(), fixedCore(Result{}, nil, calls))
			w := post(h, "/", tt.body, tt.header)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus != 200 {
				if w.Header().Get(HeaderServiceErrorCode) == "" {
					t.Errorf("failure without %s", HeaderServiceErrorCode)
				}
				if got := decodeBody(t, w)["error"]; got != true {
					t.Errorf("body error = %v, want true (DeliverReply shape): %s", got, w.Body)
				}
				if len(calls) != 0 {
					t.Errorf("core called on a bad request")
				}
				return
			}
			call := <-calls
			if got := call.Request.Subject.Name; got != tt.wantSubject {
				t.Errorf("subject = %q, want %q", got, tt.wantSubject)
			}
			if tt.wantCorrID != "" && call.CorrelationID != tt.wantCorrID {
				t.Errorf("corr id = %q, want %q", call.CorrelationID, tt.wantCorrID)
			}
			if got := logs.invocation(t)["subject"]; got != tt.wantSubject {
				t.Errorf("log subject = %v, want %s", got, tt.wantSubject)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	big := `{"order":"deliver","message_id":"m1","remote_id":"r1","user_id":"u1","pad":"` + strings.Repeat("x", 200) + `"}`
	tests := []struct {
		name   string
		header map[string]string
		body   string
	}{
		{"plain", map[string]string{"Content-Type": "application/json"}, big},
		{"binary CloudEvent", map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e", "Ce-Type": "t", "Ce-Source": "s"}, big},
		{"structured CloudEvent", map[string]string{"Content-Type": "application/cloudevents+json"},
			`{"specversion":"1.0","id":"e","type":"t","source":"s","data":` + big + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Function: "smtp-deliver", MaxBodyBytes: 128}
			h, logs := newTestHandler(t, cfg, fixedCore(Result{}, nil, nil))
			w := post(h, "/", tt.body, tt.header)
			if w.Code != 413 {
				t.Fatalf("status = %d, want 413 (body %s)", w.Code, w.Body)
			}
			if got := w.Header().Get(HeaderServiceErrorCode); got != CodeTooLarge {
				t.Errorf("code = %q, want %q", got, CodeTooLarge)
			}
			if got := decodeBody(t, w)["message"]; got != "request body is over 128 bytes" {
				t.Errorf("message = %v", got)
			}
			if got := logs.invocation(t)["outcome"]; got != "invalid" {
				t.Errorf("log outcome = %v, want invalid", got)
			}
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		h, _ := newTestHandler(t, Config{Function: "smtp-deliver", MaxBodyBytes: int64(len(deliverOrder))},
			fixedCore(Result{}, nil, nil))
		if w := post(h, "/", deliverOrder, nil); w.Code != 200 {
			t.Errorf("status = %d, want 200 for a body of exactly MaxBodyBytes", w.Code)
		}
	})
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
