package mastoinbound

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/store"
)

func doc() mastoapi.StatusDoc {
	reply := "110"
	return mastoapi.StatusDoc{
		Status: mastoapi.Status{ID: "111", CreatedAt: "2026-01-02T03:04:05.000Z", Visibility: "direct", InReplyToID: &reply,
			Content:  `<p><span class="h-card"><a href="https://a.example/@alice" class="u-url mention">@<span>alice</span></a></span> hi &amp; bye</p>`,
			Account:  mastoapi.Account{ID: "2", Username: "bob", Acct: "bob@b.example", URL: "https://b.example/@bob", DisplayName: "Bob"},
			Mentions: []mastoapi.Mention{{ID: "1", Username: "alice", Acct: "alice", URL: "https://a.example/@alice"}, {ID: "3", Acct: "Carol@c.example"}},
			Media:    []mastoapi.Attachment{{ID: "m1", Type: "image", URL: "https://b.example/m1.png"}}},
		ConversationID: "c9",
		Accounts:       []mastoapi.Account{{ID: "2", Acct: "bob@b.example"}, {ID: "3", Acct: "carol@c.example"}},
		Me:             mastoapi.Account{ID: "1", Username: "alice", Acct: "alice", URL: "https://a.example/@alice"},
	}
}

func TestMessage(t *testing.T) {
	m := Message(doc(), "raw1", "u1", "i1")
	var addrs []string
	for _, p := range m.Participants {
		addrs = append(addrs, p.Type+":"+p.Address)
	}
	if got := strings.Join(addrs, " "); got != "From:bob@b.example To:carol@c.example To:alice@a.example" {
		t.Errorf("participants %s", got)
	}
	if m.BodyPlain != "@alice hi & bye" || !strings.HasPrefix(m.BodyHTML, "<p>") || m.External.MessageID != "111" ||
		m.External.InReplyTo != "110" || !m.IsReceived || !m.IsUnread || m.Protocol != store.ProtocolMastodon ||
		m.Date.Format("2006-01-02T15:04:05Z07:00") != "2026-01-02T03:04:05Z" {
		t.Errorf("message %+v", m)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].URL != "https://b.example/m1.png" || m.Attachments[0].ContentType != "image/*" {
		t.Errorf("attachments %+v", m.Attachments)
	}
	own := doc()
	own.Status.Account = own.Me
	if m := Message(own, "raw2", "u1", "i1"); m.IsReceived || m.IsUnread || m.Participants[0].Address != "alice@a.example" {
		t.Errorf("a status the account wrote elsewhere: %+v", m)
	}
}

func TestParse(t *testing.T) {
	good, _ := json.Marshal(doc())
	if _, err := Parse(good); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	public := doc()
	public.Status.Visibility = "public"
	pub, _ := json.Marshal(public)
	for name, raw := range map[string]string{
		"public":     string(pub),
		"not json":   "{",
		"no id":      `{"status":{"visibility":"direct","account":{"id":"2"}},"conversation_id":"c","account":{"id":"1"}}`,
		"too deep":   strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
		"no account": `{"status":{"id":"1","visibility":"direct","account":{"id":"2"}},"conversation_id":"c"}`,
	} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(doc())
	f.Add(good)
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := Parse(raw)
		if err == nil && (d.Status.ID == "" || d.Status.Visibility != mastoapi.VisibilityDirect) {
			t.Errorf("accepted %q", raw)
		}
	})
}
