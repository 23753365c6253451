package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/caliopen/functions/internal/natsembed"
)

func TestRunReportsEveryProblem(t *testing.T) {
	env := map[string]string{"SMTP_MAX_RECIPIENTS": "lots", "SMTP_TLS_KEY_FILE": "/nope"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"CALIOPEN_STORE_DSN", "SMTP_MAX_RECIPIENTS", "SMTP_TLS_CERT_FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
	if err := run(context.Background(), []string{"x"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Error("arguments accepted")
	}
}

// TestRunServes starts the pod on embedded NATS and SQLite and checks it
// greets on SMTP and refuses a relay.
func TestRunServes(t *testing.T) {
	dir := t.TempDir()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"CALIOPEN_STORE_DSN": "sqlite://" + filepath.Join(dir, "c.db"),
		"CALIOPEN_BLOB_DIR": filepath.Join(dir, "blobs"), "NATS_URL": ns.ClientURL(), "SMTP_LISTEN_ADDR": addr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &out) }()
	var c *smtp.Client
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = smtp.Dial(addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("victim@elsewhere.example", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Errorf("relay: %v, want 550 5.1.1", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
