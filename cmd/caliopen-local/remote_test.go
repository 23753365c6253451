package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/imapsync/imaptest"
)

// privateDovecot starts a Dovecot IMAP server of its own for the test, with
// the project's peer script.
func privateDovecot(t *testing.T) (addr, user, pass string) {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/dovecot"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("dovecot missing (scripts/test-peers/dovecot-imap.sh installs it)")
	}
	out, err := exec.Command("bash", "../../scripts/test-peers/dovecot-imap.sh").Output()
	if err != nil {
		t.Fatalf("start dovecot: %v", err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = strings.Trim(v, "'\"")
		}
	}
	t.Cleanup(func() {
		exec.Command("bash", "../../scripts/test-peers/stop.sh", vars["CALIOPEN_TEST_DOVECOT_IMAP_PID"],
			vars["CALIOPEN_TEST_DOVECOT_IMAP_DIR"]).Run()
	})
	return vars["CALIOPEN_TEST_DOVECOT_IMAP_ADDR"], vars["CALIOPEN_TEST_DOVECOT_IMAP_USER"], vars["CALIOPEN_TEST_DOVECOT_IMAP_PASS"]
}

// TestEndToEndRemoteIdentity: a remote identity created through the API and
// pointing at a Dovecot account with mail gets all of it into the user's
// mailbox within seconds (add_identity → identities-orders → scheduler →
// sync → imap-fetch → process_inbound → inbound-email), left unread on the
// server.
func TestEndToEndRemoteIdentity(t *testing.T) {
	addr, user, pass := privateDovecot(t)
	// A fresh Dovecot may answer a temporary authentication failure for a
	// moment while its auth process starts.
	var c *imaptest.Client
	var err error
	for try := 0; try < 50; try++ {
		if c, err = imaptest.Dial(addr, user, pass); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 20
	var msgs [][]byte
	for i := 0; i < n; i++ {
		msgs = append(msgs, fmt.Appendf(nil, "From: frank@example.org\r\nTo: erin@remote.example\r\nSubject: remote %d\r\n"+
			"Message-ID: <remote-%d@example.org>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\nbody %d\r\n", i, i, i))
	}
	if err := c.Append(msgs...); err != nil {
		t.Fatal(err)
	}

	api, _ := localSystem(t)
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "erin", "password": "erin-password-1"})
	erin := login(t, api, "erin", "erin-password-1")
	erin.must(201, "POST", "/identities/remotes", map[string]any{"protocol": "email", "identifier": "erin@remote.example",
		"infos":       map[string]string{"inserver": addr, "intls": "none"},
		"credentials": map[string]string{"inusername": user, "inpassword": pass}})

	deadline := time.Now().Add(30 * time.Second)
	for {
		list := erin.must(200, "GET", "/messages?limit=100", nil)
		got := strings.Count(fmt.Sprint(list["messages"]), "remote ")
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d remote messages in erin's mailbox after 30 s", got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if seen, total, err := c.Seen(); err != nil || seen != 0 || total != n {
		t.Errorf("server INBOX: %d seen of %d (%v), want all %d left unread", seen, total, err, n)
	}
}
