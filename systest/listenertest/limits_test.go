package listenertest_test

import (
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/smtplistener"
)

// dialFrom opens an SMTP conversation from local address ip (loopback
// answers on all of 127/8) and reads the greeting.
func dialFrom(t *testing.T, ip, addr string) (*textproto.Conn, int, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := textproto.NewConn(nc)
	t.Cleanup(func() { c.Close() })
	code, msg, _ := c.ReadResponse(0)
	return c, code, msg
}

// cmd sends one command and reads its answer.
func cmd(c *textproto.Conn, format string, args ...any) (int, string, error) {
	if err := c.PrintfLine(format, args...); err != nil {
		return 0, "", err
	}
	code, msg, err := c.ReadResponse(0)
	if code != 0 {
		err = nil
	}
	return code, msg, err
}

// TestConnectionFloodFromOneAddress: 1,000 idle connections from one
// address hold at most its share of the listener; a client from another
// address is still greeted.
func TestConnectionFloodFromOneAddress(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{}, false)
	refused := 0
	for range 1000 {
		if _, code, _ := dialFrom(t, "127.0.0.1", s.SMTPAddr); code == 421 {
			refused++
		} else if code != 220 {
			t.Fatalf("flood connection greeted %d", code)
		}
	}
	if refused != 1000-20 {
		t.Errorf("%d flood connections refused, want all but the address's 20", refused)
	}
	if _, code, msg := dialFrom(t, "127.0.0.2", s.SMTPAddr); code != 220 {
		t.Fatalf("client from another address greeted %d %s, want 220", code, msg)
	}
}

// TestJunkCommandsEndSession: NOOP, RSET, VRFY and unknown commands past
// the limit end the session with 421 (as does a refused DATA); a
// message's lines are not commands, and an accepted message clears the
// count.
func TestJunkCommandsEndSession(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{MaxJunk: 5}, false)
	addUser(t, s, "alice")
	c, _, _ := dialFrom(t, "127.0.0.1", s.SMTPAddr)
	if code, _, _ := cmd(c, "EHLO client.example"); code != 250 {
		t.Fatalf("EHLO %d", code)
	}
	for i := range 4 {
		if code, _, _ := cmd(c, "%s", []string{"NOOP", "RSET", "VRFY alice", "NOOP"}[i]); code/100 != 2 {
			t.Fatalf("junk command %d answered %d", i+1, code)
		}
	}
	// A message full of command-looking lines, then as much junk again.
	for _, step := range []string{"MAIL FROM:<bob@example.org>", "RCPT TO:<alice@example.test>", "DATA"} {
		if code, msg, err := cmd(c, "%s", step); code/100 != 2 && code != 354 {
			t.Fatalf("%s: %d %s %v", step, code, msg, err)
		}
	}
	body := "Subject: commands\r\n\r\n" + strings.Repeat("NOOP\r\nRSET\r\nHELO x\r\n", 50) + "."
	if code, msg, err := cmd(c, "%s", body); code != 250 {
		t.Fatalf("message: %d %s %v", code, msg, err)
	}
	for i := range 5 {
		if code, _, _ := cmd(c, "NOOP"); code != 250 {
			t.Fatalf("NOOP %d after the message answered %d", i+1, code)
		}
	}
	if code, msg, _ := cmd(c, "DATA"); code/100 != 5 { // refused: no recipient
		t.Fatalf("DATA without a recipient answered %d %s", code, msg)
	}
	code, msg, _ := c.ReadResponse(0)
	if code != 421 {
		t.Fatalf("junk command past the limit answered %d %s, want 421", code, msg)
	}
	if _, _, err := cmd(c, "NOOP"); err == nil {
		t.Error("the session is still open")
	}
}

// TestUnknownRecipientsTarpit: unknown recipients past the first ones are
// answered later and later, and past the limit the session ends with 421.
func TestUnknownRecipientsTarpit(t *testing.T) {
	t.Parallel()
	cfg := smtplistener.Config{TarpitAfter: 2, TarpitDelay: 20 * time.Millisecond, TarpitMax: 80 * time.Millisecond,
		MaxBadRcpts: 8}
	s := startStack(t, cfg, false)
	c, _, _ := dialFrom(t, "127.0.0.1", s.SMTPAddr)
	for _, step := range []string{"EHLO client.example", "MAIL FROM:<bob@example.org>"} {
		if code, _, _ := cmd(c, "%s", step); code != 250 {
			t.Fatalf("%s: %d", step, code)
		}
	}
	// The delays are lower bounds: a loaded machine only adds to them.
	want := []time.Duration{0, 0, 20, 40, 80, 80, 80, 80}
	for i, ms := range want {
		start := time.Now()
		code, _, _ := cmd(c, "RCPT TO:<nobody%d@example.test>", i)
		took := time.Since(start)
		if code != 550 {
			t.Fatalf("unknown recipient %d answered %d", i+1, code)
		}
		if took < ms*time.Millisecond {
			t.Errorf("unknown recipient %d answered after %v, want at least %v", i+1, took, ms*time.Millisecond)
		}
	}
	if code, msg, _ := cmd(c, "RCPT TO:<nobody@example.test>"); code != 421 {
		t.Fatalf("unknown recipient past the limit answered %d %s, want 421", code, msg)
	}
	if _, _, err := cmd(c, "NOOP"); err == nil {
		t.Error("the session is still open")
	}
}

// TestSessionTimeLimit: a session is closed with 421 once its time is up,
// however busy it keeps.
func TestSessionTimeLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{MaxSession: 300 * time.Millisecond}, false)
	c, _, _ := dialFrom(t, "127.0.0.1", s.SMTPAddr)
	if code, _, _ := cmd(c, "EHLO client.example"); code != 250 {
		t.Fatalf("EHLO %d", code)
	}
	var code int
	var msg string
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, msg, err = cmd(c, "MAIL FROM:<bob@example.org>"); code == 421 || err != nil {
			break
		}
		cmd(c, "RSET")
	}
	if code != 421 || !strings.Contains(msg, "time") {
		t.Fatalf("last answer %d %q (%v), want 421 for the session time", code, msg, err)
	}
}

func TestLimitsConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{smtplistener.EnvMaxPerAddr: "0", smtplistener.EnvTarpitDelay: "5s",
		smtplistener.EnvTarpitMax: "1s", smtplistener.EnvMaxSession: "soon"}
	_, err := smtplistener.LoadConfig(func(k string) string { return env[k] })
	for _, name := range []string{smtplistener.EnvMaxPerAddr, smtplistener.EnvTarpitMax, smtplistener.EnvMaxSession} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("LoadConfig error %v does not name %s", err, name)
		}
	}
	cfg, err := smtplistener.LoadConfig(func(string) string { return "" })
	if err != nil || cfg.MaxPerAddr != 20 || cfg.MaxJunk != 20 || cfg.MaxBadRcpts != 20 || cfg.MaxSession != 10*time.Minute {
		t.Errorf("defaults %+v, %v", cfg, err)
	}
}
