// Package imaptest drives a test IMAP account from the outside: empty its
// INBOX, append messages, read their flags. Tests and cmd/bench-imap use it
// to prepare Dovecot and go-imap's in-memory server, which StartMem runs
// for tests. Every function fails with an error that names the operation;
// none retries, except DialFresh, made for a server just started.
package imaptest

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Client is a plain-text IMAP connection logged in as a test user.
type Client struct {
	c *imapclient.Client
}

// Dial connects to addr without TLS and logs in.
func Dial(addr, user, pass string) (*Client, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("login to %s: %w", addr, err)
	}
	return &Client{c: c}, nil
}

// DialFresh is Dial to a server just started, for test t: a fresh Dovecot
// may answer a temporary authentication failure while its auth process
// starts, so it tries for up to five seconds. The test fails without a
// connection; its cleanup logs out.
func DialFresh(t testing.TB, addr, user, pass string) *Client {
	t.Helper()
	var err error
	for try := 0; try < 50; try++ {
		var c *Client
		if c, err = Dial(addr, user, pass); err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// Close logs out.
func (c *Client) Close() error {
	_ = c.c.Logout().Wait()
	return c.c.Close()
}

// Empty deletes and expunges every message of INBOX.
func (c *Client) Empty() error {
	sel, err := c.c.Select("INBOX", nil).Wait()
	if err != nil {
		return fmt.Errorf("select INBOX: %w", err)
	}
	if sel.NumMessages > 0 {
		all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
		flags := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
		if err := c.c.Store(all, flags, nil).Close(); err != nil {
			return fmt.Errorf("flag INBOX deleted: %w", err)
		}
		if err := c.c.Expunge().Close(); err != nil {
			return fmt.Errorf("expunge INBOX: %w", err)
		}
	}
	if err := c.c.Unselect().Wait(); err != nil {
		return fmt.Errorf("unselect INBOX: %w", err)
	}
	return nil
}

// Append adds msgs to INBOX, pipelined, unflagged.
func (c *Client) Append(msgs ...[]byte) error {
	cmds := make([]*imapclient.AppendCommand, 0, len(msgs))
	date := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for i, m := range msgs {
		cmd := c.c.Append("INBOX", int64(len(m)), &imap.AppendOptions{Time: date})
		if _, err := cmd.Write(m); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
		cmds = append(cmds, cmd)
	}
	for i, cmd := range cmds {
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("append message %d: %w", i, err)
		}
	}
	return nil
}

// Seen returns how many INBOX messages carry \Seen, and how many there are.
func (c *Client) Seen() (seen, total int, err error) {
	sel, err := c.c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, 0, fmt.Errorf("examine INBOX: %w", err)
	}
	defer func() { _ = c.c.Unselect().Wait() }()
	if sel.NumMessages == 0 {
		return 0, 0, nil
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	msgs, err := c.c.Fetch(all, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		return 0, 0, fmt.Errorf("fetch flags: %w", err)
	}
	for _, m := range msgs {
		for _, f := range m.Flags {
			if f == imap.FlagSeen {
				seen++
			}
		}
	}
	return seen, len(msgs), nil
}
