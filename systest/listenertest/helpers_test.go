package listenertest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system/systemtest"
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startStack runs the inbound path until the test ends.
func startStack(t *testing.T, cfg smtplistener.Config, lmtp bool) *systemtest.System {
	t.Helper()
	return startStackWith(t, systemtest.Options{Listener: cfg, LMTP: lmtp})
}

// startStackWith runs the inbound path with o (its Logger set here, its
// Dir unless given) until the test ends.
func startStackWith(t *testing.T, o systemtest.Options) *systemtest.System {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Logger = slog.New(slog.NewJSONHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := systemtest.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func addUser(t *testing.T, s *systemtest.System, name string) (userID, identityID string) {
	t.Helper()
	u, i, err := s.AddLocalUser(context.Background(), name, name+"@example.test")
	if err != nil {
		t.Fatal(err)
	}
	return u, i
}

// testMail is a small mail with a unique Message-ID.
func testMail(id string, size int) string {
	body := strings.Repeat("0123456789abcdef\r\n", size/18+1)
	return fmt.Sprintf("From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: test %s\r\n"+
		"Message-ID: <%s@example.org>\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\r\n%s", id, id, body)
}

// send delivers one mail over SMTP and returns the server's error, if any.
func send(t *testing.T, addr string, to []string, mail string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return sendOn(c, to, mail)
}

func sendOn(c *smtp.Client, to []string, mail string) error {
	if err := c.Mail("bob@example.org", nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(mail)); err != nil {
		return err
	}
	return w.Close()
}

// code returns the SMTP code of err, 250 for nil, 0 for another error.
func code(err error) int {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return 250
	case errors.As(err, &se):
		return se.Code
	}
	return 0
}

func messages(t *testing.T, s *systemtest.System, userID string) []store.Message {
	t.Helper()
	ms, _, err := s.Store.ListMessages(context.Background(), userID, store.MessageFilter{}, store.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// waitMessages waits until user userID has n messages.
func waitMessages(t *testing.T, s *systemtest.System, userID string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := len(messages(t, s, userID))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user has %d messages, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// peer returns the path of a peer binary. Under CI=true a missing peer fails
// the test; elsewhere it skips it.
func peer(t *testing.T, name string) string {
	t.Helper()
	return peertest.Tool(t, name, "run scripts/test-peers/postfix-tools.sh")
}
