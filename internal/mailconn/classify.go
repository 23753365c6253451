package mailconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"

	"github.com/caliopen/functions/internal/netguard"
)

// Failures of a connection to a remote identity's server, as a user sees
// them: a class, never the server's own words (which would tell what
// listens at an address), the log keeping the detail.
const (
	ClassRefused     = "destination_refused" // the egress guard refused the address (netguard)
	ClassUnreachable = "unreachable"         // no connection, or it broke
	ClassTLS         = "tls_failed"          // the TLS handshake or the certificate failed
	ClassAuth        = "auth_failed"         // the server refused the login
	ClassProtocol    = "protocol_error"      // the server answered, not as expected
	ClassSettings    = "invalid_settings"    // the identity's settings or credentials are unusable
)

// Sentinels the mail clients wrap so that Classify knows their failures.
var (
	ErrAuthFailed = errors.New("login refused")
	ErrTLSFailed  = errors.New("tls failed")
)

// classText is what a user is told for each class.
var classText = map[string]string{
	ClassRefused:     "the server's address is not allowed (loopback, private or reserved network)",
	ClassUnreachable: "the server could not be reached",
	ClassTLS:         "the secure connection to the server failed",
	ClassAuth:        "the server refused the login",
	ClassProtocol:    "the server did not answer as expected",
	ClassSettings:    "the identity's server settings or credentials are unusable",
}

// Classify returns the class of a failure to reach or talk with a mail
// server.
func Classify(err error) string {
	var (
		netErr net.Error
		opErr  *net.OpError
		dnsErr *net.DNSError
	)
	switch {
	case errors.Is(err, netguard.ErrForbidden):
		return ClassRefused
	case errors.Is(err, ErrSettings):
		return ClassSettings
	case errors.Is(err, ErrAuthFailed):
		return ClassAuth
	case errors.Is(err, ErrTLSFailed) || IsTLS(err):
		return ClassTLS
	case errors.As(err, &dnsErr) || errors.As(err, &opErr) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed):
		return ClassUnreachable
	}
	return ClassProtocol
}

// UserError is what a user is shown of err: its class and a fixed
// sentence ("unreachable: the server could not be reached").
func UserError(err error) string {
	c := Classify(err)
	return c + ": " + classText[c]
}

// IsTLS reports whether err comes from the TLS layer: a handshake alert,
// a certificate that does not verify, a peer that does not speak TLS.
func IsTLS(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}
