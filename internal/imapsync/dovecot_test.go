package imapsync_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/imapsync"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// dovecotDialer reaches the Dovecot peer on 127.0.0.1 through the egress
// guard, allowed as an operator allows an address.
var dovecotDialer = netguard.MustParseAllow("127.0.0.1").Dialer(5*time.Second, nil)

// TestDovecotTLS: logins to a real Dovecot over STARTTLS and implicit
// TLS, with LOGIN and PLAIN, trusting its certificate; without that trust
// the connection fails, temporarily, before any credential is sent.
func TestDovecotTLS(t *testing.T) {
	d := outboundtest.DovecotIMAP(t)
	if d.TLSAddr == "" || d.CA == "" {
		t.Fatal("the Dovecot peer reports no TLS port or certificate")
	}
	pem, err := os.ReadFile(d.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", d.CA)
	}
	trusted := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	cases := []struct {
		name string
		addr string
		mode mailconn.TLSMode
		auth mailconn.Mech
		cfg  *tls.Config
		ok   bool
	}{
		{"starttls, login", d.Addr, mailconn.TLSStart, mailconn.MechLogin, trusted, true},
		{"starttls, plain", d.Addr, mailconn.TLSStart, mailconn.MechPlain, trusted, true},
		{"implicit tls, login", d.TLSAddr, mailconn.TLSImplicit, mailconn.MechLogin, trusted, true},
		{"implicit tls, plain", d.TLSAddr, mailconn.TLSImplicit, mailconn.MechPlain, trusted, true},
		{"implicit tls, certificate not trusted", d.TLSAddr, mailconn.TLSImplicit, mailconn.MechLogin, nil, false},
		{"starttls, certificate not trusted", d.Addr, mailconn.TLSStart, mailconn.MechLogin, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acct := imapsync.Account{Addr: c.addr, TLS: c.mode, TLSConfig: c.cfg, Auth: c.auth, User: d.User,
				Secret: d.Pass, Timeout: 5 * time.Second, Dialer: dovecotDialer}
			s, err := imapsync.Open(context.Background(), acct)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if s.Box.UIDValidity == 0 {
					t.Errorf("INBOX selected without a UIDVALIDITY: %+v", s.Box)
				}
				return
			}
			if err == nil || faults.ClassOf(err) != faults.Temporary || errors.Is(err, imapsync.ErrLoginRefused) {
				t.Fatalf("err = %v, want a temporary error", err)
			}
		})
	}
	// A wrong password over TLS is refused: permanent ErrLoginRefused.
	acct := imapsync.Account{Addr: d.TLSAddr, TLS: mailconn.TLSImplicit, TLSConfig: trusted, Auth: mailconn.MechLogin,
		User: d.User, Secret: "not-" + d.Pass, Timeout: 5 * time.Second, Dialer: dovecotDialer}
	_, err = imapsync.Open(context.Background(), acct)
	if !faults.IsPermanent(err) || !errors.Is(err, imapsync.ErrLoginRefused) {
		t.Errorf("wrong password: %v, want a permanent ErrLoginRefused", err)
	}
}
