package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The identifiers the files in testdata/original carry.
const (
	origUser     = "7a6b4f0e-2c1d-4e8a-9b3f-1d2e3f4a5b6c"
	origIdentity = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
	origMessage  = "e1d2c3b4-a596-4788-b9ca-dbecfd0e1f20"
	origContact  = "0b9c8d7e-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
	origKey      = "c4d5e6f7-0819-4a2b-8c3d-4e5f60718293"
)

// originalForms maps each file of testdata/original (its subject is the
// name's first part) to the seed's form of the same order, or to the
// validation error it gets.
var originalForms = []struct {
	file, seed  string
	code, field string
}{
	{file: "inboundSMTP.process_raw.json", seed: `{"message_id":"M","order":"process_inbound","remote_id":"I","user_id":"U"}`},
	{file: "inboundTwitter.process_raw.json", seed: `{"message_id":"M","order":"process_inbound","remote_id":"I","user_id":"U"}`},
	{file: "outboundSMTP.deliver.BrokerOrder.json", seed: `{"message_id":"M","order":"deliver","remote_id":"I","user_id":"U"}`},
	{file: "outboundIMAP.deliver.BrokerOrder.json", seed: `{"message_id":"M","order":"deliver","remote_id":"I","user_id":"U"}`},
	{file: "twitter_dm.deliver.BrokerOrder.json", seed: `{"message_id":"M","order":"deliver","remote_id":"I","user_id":"U"}`},
	{file: "twitter_dm.sync.BrokerOrder.json", seed: `{"order":"sync","remote_id":"I","user_id":"U"}`},
	{file: "inboundMastodon.process_raw.json", seed: `{"message_id":"M","order":"process_inbound","remote_id":"I","user_id":"U"}`},
	{file: "mastodon_dm.deliver.BrokerOrder.json", seed: `{"message_id":"M","order":"deliver","remote_id":"I","user_id":"U"}`},
	{file: "mastodon_dm.sync.BrokerOrder.json", seed: `{"order":"sync","remote_id":"I","user_id":"U"}`},
	{file: "twitter_worker.add_worker.BrokerOrder.json", seed: `{"order":"add_worker","remote_id":"I","user_id":"U"}`},
	{file: "twitter_worker.reload_worker.BrokerOrder.json", seed: `{"order":"reload_worker","remote_id":"I","user_id":"U"}`},
	{file: "twitter_worker.remove_worker.BrokerOrder.json", seed: `{"order":"remove_worker","remote_id":"I","user_id":"U"}`},
	{file: "IMAPfetcher.sync.IMAPorder-untagged.json", seed: `{"order":"sync","remote_id":"I","user_id":"U"}`},
	{file: "IMAPfetcher.sync.IMAPorder.json", seed: `{"order":"sync","remote_id":"I","user_id":"U"}`},
	{file: "IMAPfetcher.fullfetch.IMAPorder-untagged.json", code: CodeMissingField, field: "remote_id"},
	{file: "identitiesWorker.update_interval.RemoteIDNatsMessage.json", seed: `{"identity_id":"I","order":"update_interval","poll_intervall":"30","protocol":"twitter","user_id":"U"}`},
	{file: "identitiesWorker.update_interval.RemoteIDNatsMessage-untagged-PollInterval.json", seed: `{"identity_id":"I","order":"update_interval","poll_intervall":"30","protocol":"twitter","user_id":"U"}`},
	{file: "identitiesWorker.update_interval.RemoteIDNatsMessage-untagged-OrderParam.json", seed: `{"identity_id":"I","order":"update_interval","poll_intervall":"30","protocol":"twitter","user_id":"U"}`},
	{file: "identitiesWorker.add.RemoteIDNatsMessage.json", seed: `{"identity_id":"I","order":"add_identity","poll_intervall":"15","protocol":"imap","user_id":"U"}`},
	{file: "identitiesWorker.delete.RemoteIDNatsMessage.json", seed: `{"identity_id":"I","order":"delete_identity","protocol":"email","user_id":"U"}`},
	{file: "contactAction.contact_update.Nats_contact_tmpl.json", seed: `{"order":"contact_update","contact_id":"C","user_id":"U"}`},
	{file: "keyAction.discover_key.DiscoverKeyMessage.json", seed: `{"order":"discover_key","contact_id":"C","user_id":"U"}`},
	{file: "keyAction.publish_key.PublishKeyMessage.json", seed: `{"key_id":"K","order":"publish_key","resource_id":"C","user_id":"U"}`},
	{file: "keyAction.delete_key.PublishKeyMessage.json", seed: `{"key_id":"K","order":"delete_key","resource_id":"C","user_id":"U"}`},
}

// originalFiles reads testdata/original: file name → bytes.
func originalFiles(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "original", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files in testdata/original: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func originalSubject(file string) string { return file[:strings.IndexByte(file, '.')] }

// TestOriginalForms decodes the orders the original Caliopen really sent:
// each gives the same order and payload as the seed's form, so encoding it
// gives the seed's bytes; the one form that cannot be served is refused with
// the field it lacks.
func TestOriginalForms(t *testing.T) {
	c := Caliopen()
	files := originalFiles(t)
	ids := strings.NewReplacer(`"U"`, `"`+origUser+`"`, `"I"`, `"`+origIdentity+`"`, `"M"`, `"`+origMessage+`"`,
		`"C"`, `"`+origContact+`"`, `"K"`, `"`+origKey+`"`)
	for _, tt := range originalForms {
		t.Run(tt.file, func(t *testing.T) {
			orig, ok := files[tt.file]
			if !ok {
				t.Fatalf("testdata/original/%s is missing", tt.file)
			}
			delete(files, tt.file)
			subject := originalSubject(tt.file)
			got, err := c.Decode(subject, orig)
			if tt.code != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Code != tt.code || ve.Field != tt.field {
					t.Fatalf("Decode(%s) = %v, want %s on %q", orig, err, tt.code, tt.field)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%s) = %v", orig, err)
			}
			seed := []byte(ids.Replace(tt.seed))
			want, err := c.Decode(subject, seed)
			if err != nil {
				t.Fatalf("the seed's form %s does not decode: %v", seed, err)
			}
			if got.Order != want.Order || got.Subject != want.Subject {
				t.Errorf("order %s on %s, want %s on %s", got.Order.Name, got.Subject.Name, want.Order.Name, want.Subject.Name)
			}
			if !reflect.DeepEqual(got.Payload, want.Payload) {
				t.Errorf("payload\n got: %#v\nwant: %#v", got.Payload, want.Payload)
			}
			gotJSON, _ := json.Marshal(got.Payload)
			wantJSON, _ := json.Marshal(want.Payload)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("encodes as %s, the seed's form as %s", gotJSON, wantJSON)
			}
		})
	}
	for name := range files {
		t.Errorf("testdata/original/%s has no case in originalForms", name)
	}
}

// TestOriginalFormsEncodeAsSeed checks what leaves: a request decoded from an
// original form encodes with the seed's keys only.
func TestOriginalFormsEncodeAsSeed(t *testing.T) {
	c := Caliopen()
	req, err := c.Decode(SubjectInboundSMTP, originalFiles(t)["inboundSMTP.process_raw.json"])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(req.Payload)
	want := `{"message_id":"` + origMessage + `","order":"process_inbound","remote_id":"` + origIdentity + `","user_id":"` + origUser + `"}`
	if string(b) != want {
		t.Errorf("encodes as %s, want %s", b, want)
	}
}

func TestAliases(t *testing.T) {
	c := Caliopen()
	tests := []struct {
		name, subject, body string
		code, field         string
		conflict            []string
		check               func(t *testing.T, p any)
	}{
		{name: "identity_id for remote_id", subject: SubjectOutboundSMTP,
			body: `{"message_id":"m","order":"deliver","identity_id":"i","user_id":"u"}`,
			check: func(t *testing.T, p any) {
				if d := p.(*DeliverOrder); d.RemoteID != "i" || d.Order != "deliver" {
					t.Errorf("payload %#v", d)
				}
			}},
		{name: "process_raw gets its seed name", subject: SubjectInboundTwitter,
			body: `{"message_id":"m","order":"process_raw","remote_id":"i","user_id":"u"}`,
			check: func(t *testing.T, p any) {
				if d := p.(*DeliverOrder); d.Order != OrderProcessInbound {
					t.Errorf("order %q", d.Order)
				}
			}},
		{name: "alias and seed key agree", subject: SubjectOutboundSMTP,
			body: `{"message_id":"m","order":"deliver","remote_id":"i","identity_id":"i","user_id":"u","UserId":"u"}`},
		{name: "minutes agree as string and number", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","poll_intervall":"15","order_param":15,"protocol":"imap","user_id":"u"}`,
			check: func(t *testing.T, p any) {
				if d := p.(*IdentityOrder); d.PollIntervall != 15 {
					t.Errorf("interval %d", d.PollIntervall)
				}
			}},
		{name: "empty alias beside the seed key", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","poll_intervall":"15","order_param":"","protocol":"imap","user_id":"u"}`},
		{name: "zero minutes are not given", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","poll_intervall":0,"protocol":"imap","user_id":"u"}`,
			code: CodeMissingField, field: "poll_intervall"},
		{name: "empty minutes are not given", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"add_identity","poll_intervall":"","user_id":"u"}`},
		{name: "empty required minutes are missing", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","order_param":"","protocol":"imap","user_id":"u"}`,
			code: CodeMissingField, field: "poll_intervall"},
		{name: "remote_id and identity_id differ", subject: SubjectOutboundSMTP,
			body: `{"message_id":"m","order":"deliver","remote_id":"i1","identity_id":"i2","user_id":"u"}`,
			code: CodeInvalidField, field: "remote_id", conflict: []string{"remote_id", "identity_id"}},
		{name: "two aliases differ", subject: SubjectIMAPFetcher,
			body: `{"order":"sync","identity_id":"i1","RemoteId":"i2","user_id":"u"}`,
			code: CodeInvalidField, field: "remote_id", conflict: []string{"identity_id", "RemoteId"}},
		{name: "order_param and poll_intervall differ", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","poll_intervall":"15","order_param":"30","protocol":"imap","user_id":"u"}`,
			code: CodeInvalidField, field: "poll_intervall", conflict: []string{"poll_intervall", "order_param"}},
		{name: "order and Order differ", subject: SubjectTwitterDM,
			body: `{"order":"deliver","Order":"sync","remote_id":"i","user_id":"u"}`,
			code: CodeInvalidField, field: "order", conflict: []string{"order", "Order"}},
		{name: "alias of the wrong type", subject: SubjectIdentitiesWorker,
			body: `{"IdentityId":7,"order":"add_identity","user_id":"u"}`,
			code: CodeInvalidField, field: "IdentityId"},
		{name: "alias minutes malformed", subject: SubjectIdentitiesWorker,
			body: `{"identity_id":"i","order":"update_interval","OrderParam":"soon","protocol":"imap","user_id":"u"}`,
			code: CodeInvalidField, field: "OrderParam"},
		{name: "process_raw only where process_inbound is", subject: SubjectOutboundSMTP,
			body: `{"message_id":"m","order":"process_raw","remote_id":"i","user_id":"u"}`,
			code: CodeUnknownOrder},
		{name: "add only on identitiesWorker", subject: SubjectKeyAction,
			body: `{"order":"add","contact_id":"c","user_id":"u"}`,
			code: CodeUnknownOrder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := c.Decode(tt.subject, []byte(tt.body))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v", tt.body, err)
				}
				if tt.check != nil {
					tt.check(t, req.Payload)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Decode(%s) = %v, want a ValidationError", tt.body, err)
			}
			if ve.Code != tt.code || (tt.field != "" && ve.Field != tt.field) || !slices.Equal(ve.Conflict, tt.conflict) {
				t.Fatalf("Decode(%s) = %s on %q conflict %q, want %s on %q conflict %q", tt.body, ve.Code, ve.Field, ve.Conflict, tt.code, tt.field, tt.conflict)
			}
			if tt.conflict != nil {
				for _, msg := range []string{ve.Error(), ve.Public()} {
					if !strings.Contains(msg, `"`+tt.conflict[0]+`"`) || !strings.Contains(msg, `"`+tt.conflict[1]+`"`) || strings.Contains(msg, "i2") || strings.Contains(msg, "30") {
						t.Errorf("%q must name both keys and neither value", msg)
					}
				}
			}
		})
	}
}
