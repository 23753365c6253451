package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n got: %s\nwant: %s", name, got, want)
	}
}

// sample fills every string field of a payload with "<field>-value" and
// minutes with 15, then keeps only the emitter's fields.
func sample(t *testing.T, p *Payload, order string, fields []string) []byte {
	t.Helper()
	v := p.New()
	rv := reflect.ValueOf(v).Elem()
	keep := map[string]bool{}
	for _, f := range fields {
		keep[f] = true
	}
	for i := 0; i < rv.NumField(); i++ {
		name := strings.Split(rv.Type().Field(i).Tag.Get("json"), ",")[0]
		if !keep[name] {
			continue
		}
		switch f := rv.Field(i); {
		case name == "order":
			f.SetString(order)
		case f.Kind() == reflect.String:
			f.SetString(name + "-value")
		case f.Kind() == reflect.Int:
			f.SetInt(15)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEmitterPayloadsGolden pins the bytes each seed emitter sends: field
// names, order and types exactly as the seed lists them.
func TestEmitterPayloadsGolden(t *testing.T) {
	c := Caliopen()
	n := 0
	for _, s := range c.Subjects {
		for _, o := range s.Orders {
			for _, e := range o.Emitters {
				name := fmt.Sprintf("payloads/%s.%s.%s.json", s.Name, o.Name, strings.ReplaceAll(e.Service+"."+e.Function, " ", "_"))
				b := sample(t, e.Payload, o.Name, e.Fields)
				golden(t, name, append(b, '\n'))
				if _, err := c.Decode(s.Name, b); err != nil {
					t.Errorf("%s: the emitter's own payload does not validate: %v", name, err)
				}
				n++
			}
		}
	}
	if n != 22 { // the seed's 18 and the original's Mastodon bridge's 4
		t.Errorf("%d emitters, want 22", n)
	}
}

func TestRepliesGolden(t *testing.T) {
	cases := map[string]any{
		"replies/deliver.ok.json":    DeliverReply{Error: false, Message: "message m1 sent"},
		"replies/deliver.error.json": DeliverReply{Error: true, Message: "draft m1 not found"},
		"replies/inbound.ok.json":    InboundReply{Message: "stored", MessageID: "m1", DiscussionID: "d1"},
		"replies/inbound.error.json": InboundReply{Error: "missing_field", Message: `missing field "user_id"`},
	}
	for name, v := range cases {
		b, _ := json.Marshal(v)
		golden(t, name, append(b, '\n'))
	}
	golden(t, "replies/errorreply.deliver.json", append(ErrorReply(ReplyDeliver, CodeTimeout, "late"), '\n'))
	golden(t, "replies/errorreply.inbound.json", append(ErrorReply(ReplyInbound, CodeTimeout, "late"), '\n'))
}

func TestDecode(t *testing.T) {
	c := Caliopen()
	tests := []struct {
		name, subject, body string
		code, field, order  string
	}{
		{"deliver ok", "outboundSMTP", `{"message_id":"m","order":"deliver","remote_id":"i","user_id":"u"}`, "", "", "deliver"},
		{"unknown fields ignored", "outboundSMTP", `{"message_id":"m","order":"deliver","remote_id":"i","user_id":"u","login":"x"}`, "", "", "deliver"},
		{"alias that disagrees", "outboundSMTP", `{"message_id":"m","order":"deliver","remote_id":"i","user_id":"u","identity_id":"x"}`, CodeInvalidField, "remote_id", "deliver"},
		{"sync without message_id on twitter_dm", "twitter_dm", `{"order":"sync","remote_id":"i","user_id":"u"}`, "", "", "sync"},
		{"deliver needs message_id on twitter_dm", "twitter_dm", `{"order":"deliver","remote_id":"i","user_id":"u"}`, CodeMissingField, "message_id", "deliver"},
		{"update_interval string minutes", "identitiesWorker", `{"identity_id":"i","order":"update_interval","poll_intervall":"15","protocol":"imap","user_id":"u"}`, "", "", "update_interval"},
		{"update_interval number minutes", "identitiesWorker", `{"identity_id":"i","order":"update_interval","poll_intervall":15,"protocol":"imap","user_id":"u"}`, "", "", "update_interval"},
		{"update_interval bad minutes", "identitiesWorker", `{"identity_id":"i","order":"update_interval","poll_intervall":"soon","protocol":"imap","user_id":"u"}`, CodeInvalidField, "poll_intervall", "update_interval"},
		{"update_interval negative", "identitiesWorker", `{"identity_id":"i","order":"update_interval","poll_intervall":-5,"protocol":"imap","user_id":"u"}`, CodeInvalidField, "poll_intervall", "update_interval"},
		{"update_interval needs protocol", "identitiesWorker", `{"identity_id":"i","order":"update_interval","poll_intervall":"5","user_id":"u"}`, CodeMissingField, "protocol", "update_interval"},
		{"add_identity minimal", "identitiesWorker", `{"identity_id":"i","order":"add_identity","user_id":"u"}`, "", "", "add_identity"},
		{"null field is missing", "contactAction", `{"order":"contact_update","contact_id":null,"user_id":"u"}`, CodeMissingField, "contact_id", "contact_update"},
		{"number field", "contactAction", `{"order":"contact_update","contact_id":12,"user_id":"u"}`, CodeInvalidField, "contact_id", "contact_update"},
		{"order not string", "keyAction", `{"order":1}`, CodeInvalidField, "order", ""},
		{"unknown order", "keyAction", `{"order":"rotate_key"}`, CodeUnknownOrder, "", "rotate_key"},
		{"order of another subject", "keyAction", `{"order":"contact_update","contact_id":"c","user_id":"u"}`, CodeUnknownOrder, "", "contact_update"},
		{"truncated", "keyAction", `{"order":`, CodeInvalidJSON, "", ""},
		{"array", "keyAction", `[]`, CodeInvalidJSON, "", ""},
		{"null", "keyAction", `null`, CodeInvalidJSON, "", ""},
		{"blank", "keyAction", "  \n", CodeInvalidJSON, "", ""},
		{"unknown subject", "nope", `{}`, CodeUnknownSubject, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := c.Decode(tt.subject, []byte(tt.body))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Decode(%q) = %v, want success", tt.body, err)
				}
				if req.Order.Name != tt.order || req.Subject.Name != tt.subject {
					t.Errorf("decoded order %s on %s", req.Order.Name, req.Subject.Name)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Decode(%q) = %v, want a ValidationError", tt.body, err)
			}
			if ve.Code != tt.code || ve.Field != tt.field || ve.Order != tt.order {
				t.Errorf("Decode(%q) = code %s field %q order %q, want %s %q %q", tt.body, ve.Code, ve.Field, ve.Order, tt.code, tt.field, tt.order)
			}
			if tt.field != "" && !strings.Contains(ve.Error(), `"`+tt.field+`"`) {
				t.Errorf("error %q does not name field %s", ve.Error(), tt.field)
			}
		})
	}
}

func TestDecodeTyped(t *testing.T) {
	req, err := Caliopen().Decode("identitiesWorker", []byte(`{"identity_id":"i","order":"update_interval","poll_intervall":"20","protocol":"imap","user_id":"u"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := req.Payload.(*IdentityOrder)
	if !ok || p.PollIntervall != 20 || p.Protocol != "imap" || p.IdentityID != "i" {
		t.Fatalf("payload = %#v", req.Payload)
	}
}

// TestTable checks the table's own consistency: each payload's fields match
// its Go type's JSON tags, required fields exist, request/reply orders have
// a reply shape and a deadline, every subject has one function and queue.
func TestTable(t *testing.T) {
	c := Caliopen()
	// the seed's 11, the original's idCache and its Mastodon bridge's two
	if len(c.Subjects) != 14 {
		t.Errorf("%d subjects, want 14", len(c.Subjects))
	}
	if got := len(c.Functions()); got != 13 {
		t.Errorf("%d functions, want 13", got)
	}
	for _, s := range c.Subjects {
		if s.Queue == "" || s.Function == "" || len(s.Orders) == 0 {
			t.Errorf("%s: incomplete", s.Name)
		}
		if s.HasRequests() && s.Deadline <= 0 {
			t.Errorf("%s: request/reply without a deadline", s.Name)
		}
		for _, o := range s.Orders {
			for _, r := range o.Required {
				if _, ok := o.Payload.Field(r); !ok {
					t.Errorf("%s %s: required %s not in %s", s.Name, o.Name, r, o.Payload.Name)
				}
			}
			if (o.Mode == RequestReply) != (o.Reply != NoReply) {
				t.Errorf("%s %s: mode %s with reply %q", s.Name, o.Name, o.Mode, o.Reply)
			}
			for _, e := range o.Emitters {
				for _, f := range e.Fields {
					if _, ok := e.Payload.Field(f); !ok {
						t.Errorf("%s %s: emitter field %s not in %s", s.Name, o.Name, f, e.Payload.Name)
					}
				}
			}
		}
	}
	// An alias names nothing else: no other field of its payload, no other
	// order of its subject.
	for _, p := range c.Payloads {
		var names [][]string
		for _, f := range p.Fields {
			names = append(names, append([]string{f.Name}, f.Aliases...))
		}
		namesOnce(t, p.Name, names)
	}
	for _, s := range c.Subjects {
		var names [][]string
		for _, o := range s.Orders {
			names = append(names, append([]string{o.Name}, o.Aliases...))
		}
		namesOnce(t, s.Name, names)
	}
	if s, _ := c.Subject("twitter_dm"); s.Mode() != "mixed" || !s.HasPublishes() || !s.HasRequests() {
		t.Error("twitter_dm must mix publish/subscribe and request/reply")
	}
}

// namesOnce fails when one name stands for two entries of where; each entry
// is its seed name followed by its aliases.
func namesOnce(t *testing.T, where string, entries [][]string) {
	t.Helper()
	seen := map[string]string{}
	for _, e := range entries {
		for _, n := range e {
			if other, dup := seen[n]; dup {
				t.Errorf("%s: %s names both %s and %s", where, n, other, e[0])
			}
			seen[n] = e[0]
		}
	}
}

func FuzzDecode(f *testing.F) {
	c := Caliopen()
	for _, s := range []string{
		`{"message_id":"m","order":"deliver","remote_id":"i","user_id":"u"}`,
		`{"identity_id":"i","order":"update_interval","poll_intervall":"15","protocol":"imap","user_id":"u"}`,
		`{"order":"sync","remote_id":"i","user_id":"u"}`, `{"order":`, `null`, `[]`, `{"order":1}`,
	} {
		f.Add("outboundSMTP", []byte(s))
		f.Add("identitiesWorker", []byte(s))
		f.Add("twitter_dm", []byte(s))
	}
	// The original Caliopen's forms, each on its subject.
	for name, b := range originalFiles(f) {
		f.Add(originalSubject(name), b)
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		req, err := c.Decode(subject, data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Error() == "" {
				t.Fatalf("error %v is not a ValidationError", err)
			}
			return
		}
		// A payload that validates, whatever keys it came under, re-encodes
		// in the seed's form to JSON that decodes to the same request.
		b, err := json.Marshal(req.Payload)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Decode(subject, b)
		if err != nil {
			t.Fatalf("re-encoded %s does not validate: %v", b, err)
		}
		if again.Order != req.Order || !reflect.DeepEqual(again.Payload, req.Payload) {
			t.Fatalf("re-encoded %s decodes to %s %#v, want %s %#v", b, again.Order.Name, again.Payload, req.Order.Name, req.Payload)
		}
	})
}

func TestCheckReply(t *testing.T) {
	tests := []struct {
		kind         ReplyKind
		body         string
		failed, isOK bool
	}{
		{ReplyDeliver, `{"error":false,"message":"ok"}`, false, true},
		{ReplyDeliver, `{"error":true,"message":"no"}`, true, true},
		{ReplyDeliver, `{"error":"yes"}`, false, false},
		{ReplyDeliver, `{"message":"ok"}`, false, false},
		{ReplyDeliver, `[]`, false, false},
		{ReplyDeliver, `{"error":false`, false, false},
		{ReplyInbound, `{"message":"stored","message_id":"m","discussion_id":"d"}`, false, true},
		{ReplyInbound, `{"error":"timeout","message":"late"}`, true, true},
		{ReplyInbound, `{"error":true,"message":"late"}`, false, false},
		{ReplyInbound, `{"message":"stored"}`, false, false},
		{ReplyInbound, ``, false, false},
	}
	for _, tt := range tests {
		failed, err := CheckReply(tt.kind, []byte(tt.body))
		if (err == nil) != tt.isOK || (err == nil && failed != tt.failed) {
			t.Errorf("CheckReply(%s, %s) = %v, %v; want failed=%v ok=%v", tt.kind, tt.body, failed, err, tt.failed, tt.isOK)
		}
	}
}
