package imapsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/imapsync/imaptest"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

func identity(t *testing.T, ring *secrets.Keyring, infos, creds map[string]string) store.Identity {
	t.Helper()
	b, _ := json.Marshal(creds)
	sealed, err := ring.Seal(b, []byte("i1"))
	if err != nil {
		t.Fatal(err)
	}
	return store.Identity{ID: "i1", Infos: infos, Credentials: sealed}
}

// loopbackDialer reaches the test's servers on 127.0.0.1 through the
// egress guard, allowed as an operator allows an address.
var loopbackDialer = netguard.MustParseAllow("127.0.0.1").Dialer(5*time.Second, nil)

func TestAccountOf(t *testing.T) {
	ring, _ := secrets.NewKeyring(secrets.Key{ID: "k", Secret: bytes.Repeat([]byte{1}, secrets.KeySize)})
	pw := map[string]string{"inusername": "u", "inpassword": "p"}
	for _, c := range []struct {
		infos map[string]string
		creds map[string]string
		want  string // Account.String(), or the error
	}{
		{map[string]string{"inserver": "imap.example:993"}, pw, "imap imap.example:993 (tls, LOGIN, user u)"},
		{map[string]string{"inserver": "imap.example:143"}, pw, "imap imap.example:143 (starttls, LOGIN, user u)"},
		{map[string]string{"inserver": "h:143", "intls": "none", "authtype": "plain"}, pw, "imap h:143 (none, PLAIN, user u)"},
		{map[string]string{"inserver": "h:993", "authtype": "Oauth2"}, map[string]string{"username": "g", "oauth2accesstoken": "t"},
			"imap h:993 (tls, XOAUTH2, user g)"},
		{map[string]string{"inserver": "h"}, pw, "not host:port"},
		{map[string]string{"inserver": "h:1", "intls": "maybe"}, pw, "intls"},
		{map[string]string{"inserver": "h:1"}, map[string]string{"inusername": "u"}, "incomplete"},
	} {
		a, err := AccountOf(identity(t, ring, c.infos, c.creds), ring, time.Second, netguard.Guard{})
		got := a.String()
		if err != nil {
			got = err.Error()
			if !faults.IsPermanent(err) || !errors.Is(err, mailconn.ErrSettings) {
				t.Errorf("%v: %v (%s), want permanent unusable settings", c.infos, err, faults.ClassOf(err))
			}
		}
		if !strings.Contains(got, c.want) || strings.Contains(got, `"p"`) {
			t.Errorf("%v: %s, want %s", c.infos, got, c.want)
		}
	}
}

// TestPlainAndRefused logs in with AUTHENTICATE PLAIN on go-imap's
// in-memory server, reads past a cursor without setting \Seen, and shows a
// refused login as a permanent ErrLoginRefused.
func TestPlainAndRefused(t *testing.T) {
	srv := imaptest.StartMem(t, imaptest.MemOptions{})
	c, err := imaptest.Dial(srv.Addr, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Append([]byte("Subject: a\r\n\r\none\r\n"), []byte("Subject: b\r\n\r\ntwo\r\n")); err != nil {
		t.Fatal(err)
	}
	acct := Account{Addr: srv.Addr, TLS: "none", Auth: mailconn.MechPlain, User: "alice", Secret: "pw", Timeout: time.Second,
		Dialer: loopbackDialer}
	s, err := Open(context.Background(), acct)
	if err != nil {
		t.Fatal(err)
	}
	uids, err := s.UIDsAfter(1)
	if err != nil || len(uids) != 1 || uids[0] != 2 || s.Box.UIDValidity == 0 {
		t.Fatalf("UIDs after 1: %v %v (box %+v)", uids, err, s.Box)
	}
	var got []string
	if err := s.Fetch(uids, func(_ imap.UID, raw []byte) bool { got = append(got, string(raw)); return true }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if len(got) != 1 || !strings.Contains(got[0], "two") {
		t.Errorf("fetched %q", got)
	}
	if seen, total, err := c.Seen(); err != nil || seen != 0 || total != 2 {
		t.Errorf("%d of %d seen (%v)", seen, total, err)
	}
	acct.Secret = "wrong"
	if _, err := Open(context.Background(), acct); !faults.IsPermanent(err) || !errors.Is(err, ErrLoginRefused) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("refused login: %v (%s)", err, faults.ClassOf(err))
	}
}
