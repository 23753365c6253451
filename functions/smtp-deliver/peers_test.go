package smtpdeliver

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/outbound/outboundtest"
	"github.com/caliopen/functions/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// waitDumps waits until the sink dumped n transactions with needle, then
// a little longer to catch any extra copy.
func waitDumps(t *testing.T, sink outboundtest.Sink, needle string, n int) []outboundtest.Dumped {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got []outboundtest.Dumped
	for time.Now().Before(deadline) {
		if got = sink.Find(t, needle); len(got) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond)
	return sink.Find(t, needle)
}

// headerGolden renders the headers the sender wrote (smtp-sink's and the
// relays' trace fields dropped, the Message-ID and Date normalised) and
// compares them with testdata/name.
func headerGolden(t *testing.T, name string, dump []byte, msgID string) {
	t.Helper()
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(string(dump))))
	var lines []string
	for {
		line, err := r.ReadContinuedLine()
		if err != nil || line == "" {
			break
		}
		k, _, _ := strings.Cut(line, ":")
		switch {
		case strings.HasPrefix(k, "X-Client-"), strings.HasPrefix(k, "X-Helo-"), k == "Received":
			continue
		case k == "X-Mail-Args", k == "X-Rcpt-Args":
			line = strings.Fields(line)[0] + " " + strings.Fields(line)[1] // without Postfix's ORCPT
		case k == "Date":
			line = "Date: <DATE>"
		}
		lines = append(lines, strings.ReplaceAll(line, msgID, "<MESSAGE-ID>"))
	}
	slices.Sort(lines[:envelopeLines(lines)]) // a relay may reorder recipients
	got := boundaryRE.ReplaceAllString(strings.Join(lines, "\n")+"\n", "<BOUNDARY>")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./functions/smtp-deliver -update)", err)
	}
	if got != string(want) {
		t.Errorf("headers at the sink differ from %s:\n%s", path, got)
	}
}

// boundaryRE matches the builder's boundaries (they derive from the
// Message-ID).
var boundaryRE = regexp.MustCompile(`=_caliopen_[0-9a-f]+`)

// envelopeLines counts the leading X-Mail-Args and X-Rcpt-Args lines.
func envelopeLines(lines []string) int {
	n := 0
	for n < len(lines) && strings.HasPrefix(lines[n], "X-") {
		n++
	}
	return n
}

func TestDeliverToSMTPSink(t *testing.T) {
	sink := outboundtest.SMTPSink(t)
	for _, c := range []struct{ name, relay string }{
		{"direct", sink.Addr},
		{"postfix", outboundtest.PostfixRelay(t, sink.Addr)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, testConfig(c.relay))
			m := h.draft(h.alice, "ext@example.org", "Cc:cc@example.org", "Bcc:hidden@example.org")
			for i := 0; i < 3; i++ {
				h.ok(h.deliver(h.alice.UserID, m.ID))
			}
			sent := h.message(h.alice.UserID, m.ID)
			h.checkSent(sent)
			dumps := waitDumps(t, sink, sent.External.MessageID, 1)
			if len(dumps) != 1 {
				t.Fatalf("%d copies at the sink, want 1", len(dumps))
			}
			slices.Sort(dumps[0].Rcpts)
			if got := strings.Join(dumps[0].Rcpts, " "); got != "cc@example.org ext@example.org hidden@example.org" {
				t.Errorf("envelope recipients %q", got)
			}
			headerGolden(t, "sink-headers.txt", dumps[0].Raw, sent.External.MessageID)
		})
	}
}

func TestDeliverRemoteIdentityThroughItsServer(t *testing.T) {
	f := outboundtest.StartFakeSMTP(t)
	relay := outboundtest.StartFakeSMTP(t)
	h := newHarness(t, testConfig(relay.Addr))
	ctx := context.Background()
	for _, c := range []struct {
		authtype string
		creds    map[string]string
		secret   string
	}{
		{"login-password", map[string]string{"outusername": "alice.remote", "outpassword": "pw-1"}, "pw-1"},
		{"Oauth2", map[string]string{"username": "alice.remote", "oauth2accesstoken": "tok-1"}, "tok-1"},
	} {
		f.RequireAuth("alice.remote", c.secret)
		id, err := h.st.CreateIdentity(ctx, store.Identity{UserID: h.alice.UserID, Type: store.RemoteIdentity,
			Protocol: store.ProtocolEmail, Identifier: "alice-" + strings.ToLower(c.authtype) + "@remote.example",
			Infos: map[string]string{"outserver": f.Addr, "outtls": "none", "authtype": c.authtype}})
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := json.Marshal(c.creds)
		sealed, err := h.ring.Seal(plain, []byte(id.ID))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.st.SetCredentials(ctx, h.alice.UserID, id.ID, sealed); err != nil {
			t.Fatal(err)
		}
		id.DisplayName = "Alice Remote"
		m := h.draft(id, "bob@caliopen.test")
		h.ok(h.deliver(h.alice.UserID, m.ID))
		h.checkSent(h.message(h.alice.UserID, m.ID))
	}
	got := f.Received()
	if len(got) != 2 || got[0].User != "alice.remote" || got[0].To[0] != "bob@caliopen.test" {
		t.Fatalf("remote server got %+v", got)
	}
	if n := relay.Attempts(); n != 0 {
		t.Errorf("the platform relay got %d messages of a remote identity", n)
	}
	if strings.Contains(h.logBuf.String(), "pw-1") || strings.Contains(h.logBuf.String(), "tok-1") {
		t.Error("a credential was logged")
	}

	bad, err := h.st.CreateIdentity(ctx, store.Identity{UserID: h.alice.UserID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "nocreds@remote.example", Infos: map[string]string{"outserver": f.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	m := h.draft(bad, "x@example.org")
	if a := h.deliver(h.alice.UserID, m.ID); a.code != "bad_credentials" || a.status != 422 {
		t.Errorf("no credentials: %+v", a)
	}
	if got := h.message(h.alice.UserID, m.ID); got.SendState != store.SendFailed {
		t.Errorf("draft without credentials is %q, want failed", got.SendState)
	}
}
