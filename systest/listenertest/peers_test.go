package listenertest_test

import (
	"context"
	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/smtplistener"
)

// TestSwaks delivers with swaks over SMTP and LMTP, then checks the 550 of
// a relay attempt and the 451 while inbound-email is down.
func TestSwaks(t *testing.T) {
	t.Parallel()
	swaks := peer(t, "swaks")
	s := startStack(t, smtplistener.Config{}, true)
	alice, _ := addUser(t, s, "alice")
	run := func(addr string, args ...string) (string, error) {
		host, port, _ := net.SplitHostPort(addr)
		all := append([]string{"--server", host, "--port", port, "--from", "bob@example.org",
			"--timeout", "20", "--hide-all"}, args...)
		out, err := exec.Command(swaks, all...).CombinedOutput()
		return string(out), err
	}
	first := []string{"--to", "alice@example.test", "--header", "Subject: via swaks",
		"--header", "Date: Thu, 03 Dec 2026 10:00:00 +0000", "--header", "Message-Id: <swaks-1@example.org>"}
	if out, err := run(s.SMTPAddr, first...); err != nil {
		t.Fatalf("swaks SMTP: %v\n%s", err, out)
	}
	if out, err := run(s.LMTPAddr, "--protocol", "LMTP", "--to", "alice@example.test",
		"--header", "Message-Id: <swaks-2@example.org>"); err != nil {
		t.Fatalf("swaks LMTP: %v\n%s", err, out)
	}
	waitMessages(t, s, alice, 2, 5*time.Second)
	// The same message again is accepted and not stored twice.
	if out, err := run(s.SMTPAddr, first...); err != nil {
		t.Fatalf("swaks second copy: %v\n%s", err, out)
	}
	waitMessages(t, s, alice, 2, time.Second)
	host, port, _ := net.SplitHostPort(s.SMTPAddr)
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--from", "bob@example.org",
		"--to", "victim@elsewhere.example", "--quit-after", "RCPT").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "550 5.1.1") {
		t.Errorf("relay attempt: %v\n%s", err, out)
	}
	s.StopFunction(inboundemail.Name)
	out, err = exec.Command(swaks, "--server", host, "--port", port, "--from", "bob@example.org",
		"--to", "alice@example.test", "--header", "Message-Id: <swaks-3@example.org>").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "451 4.3.0") {
		t.Errorf("function down: %v\n%s", err, out)
	}
}

// TestSmtpSource loads the listener with Postfix's smtp-source (10
// sessions) and checks every mail is stored.
func TestSmtpSource(t *testing.T) {
	t.Parallel()
	src := peer(t, "smtp-source")
	s := startStack(t, smtplistener.Config{}, true)
	alice, _ := addUser(t, s, "alice")
	const n = 300
	for _, it := range []struct {
		addr string
		lmtp bool
	}{{s.SMTPAddr, false}, {s.LMTPAddr, true}} {
		args := []string{"-s", "10", "-m", "150", "-l", "4096", "-f", "bob@example.org", "-t", "alice@example.test",
			"-M", "example.org"}
		if it.lmtp {
			args = append([]string{"-L"}, args...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, src, append(args, it.addr)...).CombinedOutput()
		cancel()
		if err != nil || len(out) > 0 {
			t.Fatalf("smtp-source (lmtp=%v): %v\n%s", it.lmtp, err, out)
		}
	}
	waitMessages(t, s, alice, n, 10*time.Second)
}
