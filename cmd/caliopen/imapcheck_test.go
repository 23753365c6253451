package main

import (
	"net"
	"testing"

	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// TestCheckIMAP: the check against a real Dovecot names each outcome,
// and never the server's words.
func TestCheckIMAP(t *testing.T) {
	d := outboundtest.DovecotIMAP(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name, addr string
		mode       mailconn.TLSMode
		pass, want string
	}{
		{"ok", d.Addr, mailconn.TLSNone, d.Pass, checkOK},
		{"wrong password", d.Addr, mailconn.TLSNone, "not-the-password", checkAuthFailed},
		{"nothing listening", closed, mailconn.TLSNone, d.Pass, checkUnreachable},
		{"TLS to a plain-text port", d.Addr, mailconn.TLSImplicit, d.Pass, checkTLSFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkIMAP(tc.addr, tc.mode, d.User, tc.pass); got != tc.want {
				t.Errorf("checkIMAP = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIMAPTLSMode(t *testing.T) {
	for _, tc := range []struct {
		addr, flag string
		want       mailconn.TLSMode
	}{{"imap.example:993", "", mailconn.TLSImplicit}, {"imap.example:143", "", mailconn.TLSStart}, {"imap.example:993", "none", mailconn.TLSNone}} {
		if got, err := imapTLSMode(tc.addr, tc.flag); err != nil || got != tc.want {
			t.Errorf("imapTLSMode(%q, %q) = %q, %v; want %q", tc.addr, tc.flag, got, err, tc.want)
		}
	}
	if _, err := imapTLSMode("imap.example:993", "ssl"); err == nil {
		t.Error("-tls ssl accepted")
	}
}
