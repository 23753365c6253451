package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/xapitest"
)

// cli runs the client in process with a fixed environment.
type cli struct {
	t   *testing.T
	env map[string]string
}

// run runs one command line with stdin and returns its stdout and error.
func (c cli) run(stdin string, args ...string) (string, error) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, env{getenv: func(k string) string { return c.env[k] },
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut})
	return out.String(), err
}

// must runs a command line that must succeed.
func (c cli) must(stdin string, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("caliopen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestHelp: every command, and every subcommand, explains itself on -h
// and succeeds (exit status 0), without a system.
func TestHelp(t *testing.T) {
	c := cli{t: t}
	lines := [][]string{{"-h"}, {"--help"}, {"help"}, {"help", "send"}, {"user", "create", "-h"}, {"user", "-h"},
		{"identity", "-h"}, {"identity", "add", "-h"}, {"identity", "list", "-h"}, {"account", "-h"}, {"account", "add-imap", "-h"},
		{"account", "add-twitter", "-h"}, {"account", "add-mastodon", "-h"}}
	for _, cmd := range commands() {
		lines = append(lines, []string{cmd.name, "-h"}, []string{cmd.name, "--help"})
	}
	for _, args := range lines {
		out, err := c.run("", args...)
		if err != nil {
			t.Errorf("caliopen %s: %v, want success", strings.Join(args, " "), err)
		}
		if !strings.Contains(out, "usage: caliopen") {
			t.Errorf("caliopen %s printed %q, want its usage", strings.Join(args, " "), out)
		}
	}
}

// TestUsageErrors: a command line that cannot run is a usage error (exit
// status 2) naming the problem.
func TestUsageErrors(t *testing.T) {
	c := cli{t: t, env: map[string]string{EnvConfigDir: t.TempDir()}}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"read"}, "read takes 1 argument"},
		{[]string{"login"}, "login takes 1 argument"},
		{[]string{"send"}, "a draft's ID or the flags"},
		{[]string{"send", "some-id", "-to", "bob@example.org"}, "not both"},
		{[]string{"messages", "-limit", "many"}, "invalid value"},
		{[]string{"account", "add-imap", "a@example.org"}, "-imap HOST:PORT is required"},
		{[]string{"account", "add-twitter", "bob"}, "give one of -tokens FILE and -oauth1 TOKEN"},
		{[]string{"account", "add-twitter", "bob", "-tokens", "-", "-oauth1", "t"}, "give one of"},
		{[]string{"account", "add-mastodon", "bob@social.example"}, "-instance URL is required"},
		{[]string{"user", "delete", "bob"}, "caliopen user create"},
		{[]string{"dlq", "-count", "-1"}, "cannot be negative"},
	} {
		_, err := c.run("", tc.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("caliopen %s = %v, want a usage error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestCredentials: the token is saved with mode 0600, refused when others
// may read it, sent only to the URL that issued it; CALIOPEN_TOKEN
// overrides it.
func TestCredentials(t *testing.T) {
	var mu sync.Mutex
	var seen []string // Authorization headers received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case apiPath + "/authentications":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-1", "token_type": "Bearer",
				"expires_at": time.Now().Add(time.Hour), "user_id": "u1", "username": "alice"})
		case apiPath + "/me":
			json.NewEncoder(w).Encode(map[string]any{"user_id": "u1", "name": "alice"})
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not_found","message":"no such route"}`))
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	c := cli{t: t, env: map[string]string{EnvConfigDir: dir, EnvURL: srv.URL}}
	if out := c.must("password-1\n", "login", "alice"); !strings.Contains(out, "logged in as alice") {
		t.Errorf("login printed %q", out)
	}
	name := filepath.Join(dir, credentialsFile)
	st, err := os.Stat(name)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials %v, %v: want mode 0600", st, err)
	}
	if b, _ := os.ReadFile(name); !strings.Contains(string(b), srv.URL) {
		t.Errorf("credentials %s do not name the URL that issued the token", b)
	}
	if out := c.must("", "whoami"); !strings.Contains(out, "alice") {
		t.Errorf("whoami printed %q", out)
	}
	mu.Lock()
	if got := seen[len(seen)-1]; got != "Bearer tok-1" {
		t.Errorf("whoami sent Authorization %q, want the saved token", got)
	}
	mu.Unlock()

	// Another URL: the saved token is not sent there.
	other := cli{t: t, env: map[string]string{EnvConfigDir: dir, EnvURL: "http://127.0.0.1:1"}}
	if _, err := other.run("", "whoami"); err == nil || !strings.Contains(err.Error(), "not logged in to http://127.0.0.1:1") {
		t.Errorf("whoami on another URL = %v, want not logged in", err)
	}
	// CALIOPEN_TOKEN goes wherever it is told.
	envTok := cli{t: t, env: map[string]string{EnvConfigDir: t.TempDir(), EnvURL: srv.URL, EnvToken: "tok-env"}}
	envTok.must("", "whoami")
	mu.Lock()
	if got := seen[len(seen)-1]; got != "Bearer tok-env" {
		t.Errorf("whoami sent Authorization %q, want CALIOPEN_TOKEN's", got)
	}
	mu.Unlock()

	// A file others may read is refused.
	if err := os.Chmod(name, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.run("", "whoami"); err == nil || !strings.Contains(err.Error(), "may be read by others") {
		t.Errorf("whoami with a 0644 credentials file = %v, want a refusal", err)
	}
	// A new login replaces such a file.
	c.must("password-1\n", "login", "alice")
	if st, err := os.Stat(name); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials after a new login: %v, %v", st, err)
	}
	// An error answer names its code and status.
	if _, err := c.run("", "read", "nope"); err == nil || !strings.Contains(err.Error(), "no such route (not_found, HTTP 404)") {
		t.Errorf("read on a 404 = %v", err)
	}
	c.must("", "logout")
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("credentials after logout: %v", err)
	}
}

// TestAgainstSystem drives the running local system through the client:
// users, identities, an IMAP account, drafts, sending, reading,
// notifications as they come, orders and dead letters.
func TestAgainstSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the local system")
	}
	bin, goCmd := localBinary(t)
	// The X accounts reach the in-process X API server (a hand-written
	// fake: no real X runs here), which knows none of their tokens.
	x := xapitest.New()
	t.Cleanup(x.Close)
	x.AddUser("100", "alice_y", "Alice")
	x.AddOAuth1("app-key", "app-secret", "other-token", "other-secret", "100")
	addrs := startSystem(t, bin, append(cleanEnv(goCmd), "CALIOPEN_ADMIN_PASSWORD=admin-password-1", "API_BCRYPT_COST=4",
		"TWITTER_API_URL="+x.URL, "TWITTER_APP_KEY=app-key", "TWITTER_APP_SECRET=app-secret"))
	c := cli{t: t, env: map[string]string{EnvConfigDir: t.TempDir(), EnvURL: "http://" + addrs["gateway"],
		EnvNATSURL: "nats://" + addrs["nats"], EnvDataDir: addrs["data"]}}

	c.must("admin-password-1\n", "login", "admin")
	if out := c.must("alice-password-1\n", "user", "create", "alice", "-given", "Alice"); !strings.Contains(out, "created user alice, address alice@caliopen.local") {
		t.Errorf("user create printed %q", out)
	}
	if _, err := c.run("x\n", "user", "create", "alice"); err == nil {
		t.Error("a second alice was created")
	}
	c.must("alice-password-1\n", "login", "alice")
	if _, err := c.run("bob-password-1\n", "user", "create", "bob"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("alice creating a user = %v, want forbidden", err)
	}
	if out := c.must("", "identity", "add", "alice+ali", "-name", "Ali"); !strings.Contains(out, "added alice+ali@caliopen.local") {
		t.Errorf("identity add printed %q", out)
	}
	out := c.must("imap-secret-1\n", "account", "add-imap", "alice@remote.example", "-imap", "imap.remote.example:993",
		"-smtp", "smtp.remote.example:465", "-poll", "30")
	if !strings.Contains(out, "added account alice@remote.example") || strings.Contains(out, "imap-secret-1") {
		t.Errorf("account add-imap printed %q", out)
	}
	tokens := `{"token_type":"bearer","expires_in":7200,"access_token":"x-access-1","refresh_token":"x-refresh-1"}`
	if out := c.must(tokens, "account", "add-twitter", "@alice_x", "-tokens", "-", "-poll", "5"); !strings.Contains(out, "added account @alice_x") ||
		strings.Contains(out, "x-access-1") {
		t.Errorf("account add-twitter printed %q", out)
	}
	if out := c.must("oauth1-secret-1\n", "account", "add-twitter", "alice_y", "-oauth1", "100-tok"); !strings.Contains(out, "added account @alice_y") {
		t.Errorf("account add-twitter -oauth1 printed %q", out)
	}
	if _, err := c.run(`{"refresh_token":"r"}`, "account", "add-twitter", "alice_z", "-tokens", "-"); err == nil ||
		!strings.Contains(err.Error(), "no access_token") {
		t.Errorf("tokens without an access token: %v", err)
	}
	var ids struct {
		Locals, Remotes struct {
			Identities []map[string]any `json:"identities"`
		}
	}
	raw := c.must("", "identity", "list", "-json")
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		t.Fatalf("identity list -json: %v\n%s", err, raw)
	}
	if len(ids.Locals.Identities) != 2 || len(ids.Remotes.Identities) != 3 {
		t.Fatalf("identities %s", raw)
	}
	for _, secret := range []string{"x-access-1", "x-refresh-1", "oauth1-secret-1", "100-tok"} {
		if strings.Contains(raw, secret) {
			t.Errorf("identity list shows a credential")
		}
	}
	for _, r := range ids.Remotes.Identities[1:] {
		infos, _ := r["infos"].(map[string]any)
		if r["protocol"] != "twitter" || r["has_credentials"] != true || r["status"] != "active" ||
			(r["identifier"] == "alice_x" && (infos["authtype"] != "oauth2" || infos["provider"] != "twitter" || r["poll_interval"] != float64(5))) {
			t.Errorf("twitter account %v", r)
		}
	}
	r := ids.Remotes.Identities[0]
	infos, _ := r["infos"].(map[string]any)
	if r["has_credentials"] != true || infos["inserver"] != "imap.remote.example:993" || infos["outserver"] != "smtp.remote.example:465" ||
		r["poll_interval"] != float64(30) || strings.Contains(raw, "imap-secret-1") {
		t.Errorf("remote identity %v", r)
	}
	if out := c.must("", "identity", "list"); !strings.Contains(out, "alice@remote.example") || !strings.Contains(out, "alice+ali@caliopen.local") {
		t.Errorf("identity list printed\n%s", out)
	}
	// X refuses alice_y's OAuth 1.0a tokens at its first sync: the account
	// waits for new credentials, and the list says so.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out := c.must("", "identity", "list")
		line := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "alice_y") {
				line = l
			}
		}
		if strings.Contains(line, "reauth_required: X refused the account's credentials") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice_y never became reauth_required:\n%s", out)
		}
	}

	// Notifications as they come: a mail from outside, through SMTP.
	ctx, stop := context.WithCancel(context.Background())
	watched := &syncWriter{w: &bytes.Buffer{}}
	watching := make(chan error, 1)
	go func() {
		watching <- run(ctx, []string{"notifications", "-follow", "-limit", "0", "-interval", "100ms", "-json"},
			env{getenv: func(k string) string { return c.env[k] }, stdin: strings.NewReader(""), stdout: watched,
				stderr: &bytes.Buffer{}})
	}()
	time.Sleep(300 * time.Millisecond) // the watch has read the current notifications
	mail := "From: carol@example.org\r\nTo: alice@caliopen.local\r\nSubject: From outside\r\n\r\nHello Alice.\r\n"
	if err := smtp.SendMail(addrs["smtp"], nil, "carol@example.org", []string{"alice@caliopen.local"}, []byte(mail)); err != nil {
		t.Fatal(err)
	}
	var note map[string]any
	for deadline := time.Now().Add(10 * time.Second); note == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no notification printed: %q", watched.String())
		}
		if line, _, ok := strings.Cut(watched.String(), "\n"); ok {
			if err := json.Unmarshal([]byte(line), &note); err != nil {
				t.Fatalf("notification line %q: %v", line, err)
			}
		}
	}
	stop()
	if err := <-watching; err != nil {
		t.Errorf("notifications -follow: %v", err)
	}
	if note["type"] != "new_message" {
		t.Errorf("notification %v, want new_message", note)
	}
	if out := c.must("", "messages", "-unread"); !strings.Contains(out, note["reference"].(string)) {
		t.Errorf("the new message is not listed unread:\n%s", out)
	}
	if out := c.must("", "read", note["reference"].(string)); !strings.Contains(out, "Subject: From outside") ||
		!strings.Contains(out, "Hello Alice.") || !strings.Contains(out, "From: carol@example.org") {
		t.Errorf("read printed\n%s", out)
	}
	if out := c.must("", "read", note["reference"].(string), "-raw"); !strings.Contains(out, "Subject: From outside") {
		t.Errorf("read -raw printed\n%s", out)
	}
	if out := c.must("", "messages", "-unread"); strings.Contains(out, note["reference"].(string)) {
		t.Errorf("read left the message unread:\n%s", out)
	}

	// A draft from the flags, body from stdin, then sent by its id.
	out = c.must("Dear self,\nhello.\n", "draft", "-to", "alice@caliopen.local", "-cc", "alice+ali@caliopen.local", "-subject", "Note", "-body-file", "-")
	id := strings.TrimSpace(strings.TrimPrefix(out, "draft "))
	if drafts := c.must("", "messages", "-drafts"); !strings.Contains(drafts, id) || !strings.Contains(drafts, "draft") {
		t.Errorf("messages -drafts\n%s\nlacks %s", drafts, id)
	}
	if out := c.must("", "send", id); out != "sent "+id+"\n" {
		t.Errorf("send printed %q", out)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(c.must("", "read", id, "-json")), &sent); err != nil || sent["send_state"] != "sent" {
		t.Errorf("the sent draft: %v, %v", sent, err)
	}

	// An order that cannot be processed, and its dead letter.
	if out, err := c.run("", "order", "contactAction", `{"order":"contact_update","user_id":"u1"}`); err != nil ||
		!strings.Contains(out, `"stream":"CALIOPEN_ORDERS"`) {
		t.Errorf("order = %q, %v", out, err)
	}
	var dl deadLetter
	if err := json.Unmarshal([]byte(c.must("", "dlq", "-follow", "-count", "1", "-json", "-subject", "contactAction")), &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Subject != "contactAction" || dl.Code != "missing_field" || dl.Order != "contact_update" || !strings.Contains(dl.Error, "contact_id") ||
		dl.Payload != `{"order":"contact_update","user_id":"u1"}` {
		t.Errorf("dead letter %+v", dl)
	}
	if out := c.must("", "dlq", "-subject", "keyAction"); strings.Count(out, "\n") != 1 {
		t.Errorf("dlq of a subject without letters printed\n%s", out)
	}
	// Three more: -last shows the latest, of the stream or of a subject.
	for _, u := range []string{"u1", "u2", "u3"} {
		c.must("", "order", "keyAction", `{"order":"x","user_id":"`+u+`"}`)
	}
	if n := strings.Count(c.must("", "dlq", "-follow", "-count", "4", "-json"), "\n"); n != 4 {
		t.Errorf("dlq -follow -count 4 printed %d letters", n)
	}
	users := func(out string) (got []string) {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var dl deadLetter
			var p struct {
				UserID string `json:"user_id"`
			}
			if err := json.Unmarshal([]byte(line), &dl); err != nil || json.Unmarshal([]byte(dl.Payload), &p) != nil {
				t.Fatalf("dlq line %q: %v", line, err)
			}
			got = append(got, dl.Subject+"/"+p.UserID)
		}
		return got
	}
	// The letters in the stream's order (the connector processes events
	// concurrently, so not necessarily the orders').
	all := users(c.must("", "dlq", "-json", "-last", "9"))
	if len(all) != 4 || all[0] != "contactAction/u1" {
		t.Fatalf("dlq -last 9: %v, want the 4 letters, the contactAction one first", all)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-last", "2"}, all[2:]},
		{[]string{"-subject", "keyAction", "-last", "1"}, all[3:]},
		{[]string{"-subject", "keyAction", "-last", "5"}, all[1:]},
		{[]string{"-subject", "contactAction", "-last", "5"}, all[:1]},
	} {
		if got := users(c.must("", append([]string{"dlq", "-json"}, tc.args...)...)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("dlq %v: %v, want %v", tc.args, got, tc.want)
		}
	}

	c.must("", "logout")
	if _, err := c.run("", "messages"); err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Errorf("messages after logout = %v", err)
	}
}
