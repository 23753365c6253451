package listenertest_test

import (
	"context"
	"crypto/tls"
	"errors"
	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/testcert"
)

func TestDeliverDedupRelaySize(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{MaxBytes: 64 << 10}, false)
	alice, _ := addUser(t, s, "alice")
	bob, _ := addUser(t, s, "bob")
	mail := testMail("m1", 1000)
	if err := send(t, s.SMTPAddr, []string{"alice@example.test", "Bob@Example.test"}, mail); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	for _, u := range []string{alice, bob} {
		ms := messages(t, s, u)
		if len(ms) != 1 || ms[0].Subject != "test m1" || ms[0].DiscussionID == "" || ms[0].RawMsgID == "" {
			t.Fatalf("messages of %s: %+v", u, ms)
		}
		raw, err := s.Store.GetRaw(context.Background(), ms[0].RawMsgID)
		if err != nil || !raw.Delivered {
			t.Errorf("raw %+v %v", raw, err)
		}
	}
	// The same mail again: accepted, not stored twice.
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, mail); err != nil {
		t.Fatalf("second copy: %v", err)
	}
	if n := len(messages(t, s, alice)); n != 1 {
		t.Errorf("after a second copy alice has %d messages", n)
	}
	// Relay attempt and unknown local user.
	for _, to := range []string{"someone@elsewhere.example", "nobody@example.test"} {
		err := send(t, s.SMTPAddr, []string{to}, mail)
		var se *smtp.SMTPError
		if code(err) != 550 || !asSMTP(err, &se) || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("RCPT %s: %v, want 550 5.1.1", to, err)
		}
	}
	// Oversized.
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, testMail("big", 100<<10)); code(err) != 552 {
		t.Errorf("oversized: %v, want 552", err)
	}
	if n := len(messages(t, s, alice)); n != 1 {
		t.Errorf("alice has %d messages", n)
	}
}

func asSMTP(err error, se **smtp.SMTPError) bool {
	e, ok := err.(*smtp.SMTPError)
	*se = e
	return ok
}

func TestFunctionDownThenRetry(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{}, false)
	alice, _ := addUser(t, s, "alice")
	s.StopFunction(inboundemail.Name)
	mail := testMail("retry", 500)
	err := send(t, s.SMTPAddr, []string{"alice@example.test"}, mail)
	var se *smtp.SMTPError
	if code(err) != 451 || !asSMTP(err, &se) || se.EnhancedCode[0] != 4 {
		t.Fatalf("with inbound-email stopped: %v, want 451 4.x.x", err)
	}
	if n := len(messages(t, s, alice)); n != 0 {
		t.Fatalf("%d messages stored while the function was down", n)
	}
	// The bytes are kept, their record is inbound-email's to write.
	rawID := store.RawID([]byte(mail))
	if _, err := s.Store.GetRaw(context.Background(), rawID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("raw message recorded while the function was down: %v", err)
	}
	s.StartFunction(inboundemail.Name)
	// The MTA retries the same bytes.
	if err := send(t, s.SMTPAddr, []string{"alice@example.test"}, mail); err != nil {
		t.Fatalf("retry: %v", err)
	}
	ms := messages(t, s, alice)
	if len(ms) != 1 || ms[0].Subject != "test retry" {
		t.Fatalf("after the retry: %+v", ms)
	}
	if ms[0].RawMsgID != rawID {
		t.Errorf("raw message id %s, want %s", ms[0].RawMsgID, rawID)
	}
	raw, err := s.Store.GetRaw(context.Background(), ms[0].RawMsgID)
	if err != nil || !raw.Delivered {
		t.Errorf("raw %+v %v", raw, err)
	}
	ns, _, err := s.Store.ListNotifications(context.Background(), alice, store.Page{Limit: 10})
	if err != nil || len(ns) != 1 || ns[0].Type != inbound.NotificationType || ns[0].Reference != ms[0].ID {
		t.Errorf("notifications %+v %v", ns, err)
	}
}

// TestPartialFailure deactivates one recipient's identity between RCPT and
// DATA: inbound-email refuses it permanently. SMTP answers 250 (the other
// recipient got it); LMTP answers per recipient.
func TestPartialFailure(t *testing.T) {
	t.Parallel()
	s := startStack(t, smtplistener.Config{}, true)
	ctx := context.Background()
	alice, _ := addUser(t, s, "alice")
	carol, carolIdent := addUser(t, s, "carol")
	deactivate := func() {
		id, err := s.Store.GetIdentity(ctx, carol, carolIdent)
		if err != nil {
			t.Fatal(err)
		}
		id.Status = store.Inactive
		if _, err := s.Store.UpdateIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	activate := func() {
		id, _ := s.Store.GetIdentity(ctx, carol, carolIdent)
		id.Status = store.Active
		if _, err := s.Store.UpdateIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	rcpts := []string{"alice@example.test", "carol@example.test"}
	// SMTP.
	c, err := smtp.Dial(s.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	deactivate()
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(testMail("partial-smtp", 300)))
	if err := w.Close(); err != nil {
		t.Errorf("SMTP with one recipient refused: %v, want 250", err)
	}
	activate()
	// LMTP.
	conn, err := net.Dial("tcp", s.LMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(conn)
	defer lc.Close()
	if err := lc.Hello("test.example"); err != nil {
		t.Fatal(err)
	}
	if err := lc.Mail("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := lc.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	deactivate()
	dw, err := lc.Data()
	if err != nil {
		t.Fatal(err)
	}
	dw.Write([]byte(testMail("partial-lmtp", 300)))
	resp, err := dw.CloseWithLMTPResponse()
	lerr, _ := err.(smtp.LMTPDataError)
	if resp["alice@example.test"] == nil || lerr["carol@example.test"] == nil || lerr["carol@example.test"].Code != 550 {
		t.Errorf("LMTP statuses: %v / %v", resp, err)
	}
	if n := len(messages(t, s, alice)); n != 2 {
		t.Errorf("alice has %d messages, want 2", n)
	}
	if n := len(messages(t, s, carol)); n != 0 {
		t.Errorf("carol has %d messages, want 0", n)
	}
}

func TestStartTLSAndConnectionLimit(t *testing.T) {
	t.Parallel()
	cert := testcert.New(t).TLS
	s := startStack(t, smtplistener.Config{MaxConnections: 1,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}, false)
	alice, _ := addUser(t, s, "alice")
	c, err := smtp.DialStartTLS(s.SMTPAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("no TLS after STARTTLS")
	}
	// A second connection while the first is open: 421.
	conn, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _ := conn.Read(buf)
	conn.Close()
	if !strings.HasPrefix(string(buf[:n]), "421 4.7.0") {
		t.Errorf("second connection got %q, want 421", buf[:n])
	}
	if err := sendOn(c, []string{"alice@example.test"}, testMail("tls", 200)); err != nil {
		t.Fatal(err)
	}
	ms := messages(t, s, alice)
	if len(ms) != 1 || ms[0].Features[inbound.FeatureIngressTLS] != "tls1.3" || ms[0].PI.Technic < 10 {
		t.Errorf("TLS not seen: %+v", ms)
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{smtplistener.EnvMaxBytes: "x", smtplistener.EnvTLSCert: "/nope",
		smtplistener.EnvProcessTimeout: "30s", smtplistener.EnvReadTimeout: "-1s"}
	_, err := smtplistener.LoadConfig(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{smtplistener.EnvMaxBytes, smtplistener.EnvTLSKey, smtplistener.EnvProcessTimeout,
		smtplistener.EnvReadTimeout} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	cfg, err := smtplistener.LoadConfig(func(string) string { return "" })
	if err != nil || cfg.Addr != ":2525" || cfg.MaxBytes != 20971520 || cfg.ProcessTimeout != 10*time.Second || cfg.TLS != nil {
		t.Errorf("defaults %+v %v", cfg, err)
	}
}
