package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"github.com/caliopen/functions/internal/imapsync"
	"github.com/caliopen/functions/internal/mailconn"
)

// The findings of an IMAP check, as `account add-imap` prints them.
const (
	checkOK          = "ok"
	checkUnreachable = "unreachable"
	checkTLSFailed   = "tls_failed"
	checkAuthFailed  = "auth_failed"
)

// checkTimeout bounds the check's dial and each of its commands.
const checkTimeout = 10 * time.Second

// imapTLSMode is the TLS mode of an IMAP server as the fetcher picks it
// (package mailconn): the -tls flag, else implicit TLS on port 993 and
// STARTTLS elsewhere.
func imapTLSMode(addr, flag string) (mailconn.TLSMode, error) {
	if flag != "" {
		return mailconn.ParseTLSMode(flag)
	}
	if _, port, _ := net.SplitHostPort(addr); port == "993" {
		return mailconn.TLSImplicit, nil
	}
	return mailconn.TLSStart, nil
}

// checkIMAP connects to the IMAP server at addr from this machine and
// logs in once, and says what it found, classified: the server's own
// words are never shown.
func checkIMAP(addr string, mode mailconn.TLSMode, user, password string) string {
	// A plain dialer: this runs on the user's own machine, towards the
	// server the user names; the egress guard is the system's, for the
	// destinations its users choose (the system checks again when it
	// fetches).
	c, err := imapsync.Connect(imapsync.Account{Addr: addr, TLS: mode, Auth: mailconn.MechLogin, User: user, Secret: password,
		Timeout: checkTimeout, Dialer: &net.Dialer{Timeout: checkTimeout}})
	if err == nil {
		_ = c.Logout().Wait()
		_ = c.Close()
		return checkOK
	}
	return classifyIMAP(err)
}

// classifyIMAP names what an error of imapsync.Connect says.
func classifyIMAP(err error) string {
	var (
		record   tls.RecordHeaderError
		alert    tls.AlertError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	switch {
	case errors.Is(err, imapsync.ErrLoginRefused):
		return checkAuthFailed
	case errors.As(err, &record), errors.As(err, &alert), errors.As(err, &verify), errors.As(err, &unknown),
		errors.As(err, &hostname), errors.As(err, &invalid):
		return checkTLSFailed
	}
	return checkUnreachable
}
