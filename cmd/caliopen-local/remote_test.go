package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// TestEndToEndRemoteIdentity: a remote identity created through the API and
// pointing at a Dovecot account with mail gets all of it into the user's
// mailbox within seconds (add_identity → identities-orders → scheduler →
// sync → imap-fetch → process_inbound → inbound-email), left unread on the
// server.
func TestEndToEndRemoteIdentity(t *testing.T) {
	d := outboundtest.PrivateDovecotIMAP(t)
	addr, user, pass := d.Addr, d.User, d.Pass
	c := imaptest.DialFresh(t, addr, user, pass)
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
