package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// TestAddIMAPAccount: an account added with the client, pointing at a real
// Dovecot (the project's peer script starts a private one), has its INBOX
// fetched into the user's mailbox.
func TestAddIMAPAccount(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the local system")
	}
	d := outboundtest.PrivateDovecotIMAP(t)
	addr, user, pass := d.Addr, d.User, d.Pass
	c := imaptest.DialFresh(t, addr, user, pass)
	if err := c.Append([]byte("From: frank@example.org\r\nTo: erin@remote.example\r\nSubject: fetched over IMAP\r\n" +
		"Message-ID: <imap-1@example.org>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0000\r\n\r\nHello Erin.\r\n")); err != nil {
		t.Fatal(err)
	}

	bin, goCmd := localBinary(t)
	// The private Dovecot listens on loopback: allowed through the egress
	// guard's allow list, as an operator with a local mail server would.
	addrs := startSystem(t, bin, append(cleanEnv(goCmd), "CALIOPEN_ADMIN_PASSWORD=admin-password-1", "API_BCRYPT_COST=4",
		"CALIOPEN_EGRESS_ALLOW=127.0.0.1"))
	cl := cli{t: t, env: map[string]string{EnvConfigDir: t.TempDir(), EnvURL: "http://" + addrs["gateway"]}}
	cl.must("admin-password-1\n", "login", "admin")
	cl.must("erin-password-1\n", "user", "create", "erin")
	cl.must("erin-password-1\n", "login", "erin")
	if out := cl.must(pass+"\n", "account", "add-imap", "erin@remote.example", "-imap", addr, "-tls", "none", "-user", user); !strings.Contains(out, "checked from here: ok") {
		t.Errorf("add-imap printed %q, want the check's finding, ok", out)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var page struct {
			Messages []message `json:"messages"`
		}
		if err := json.Unmarshal([]byte(cl.must("", "messages", "-json")), &page); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(page.Messages, func(m message) bool { return m.Subject == "fetched over IMAP" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the IMAP account's mail is not in the mailbox after 30 s: %+v", page.Messages)
		}
	}
}
