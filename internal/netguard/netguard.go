// Package netguard makes outbound connections whose destinations come
// from other people's data (the domains of e-mail addresses) safe to make:
// by default it never connects to loopback, private, link-local,
// multicast, unspecified or other special-purpose addresses. The check runs
// on the address actually dialled, after name resolution (a net.Dialer
// Control hook), so a name that resolves to 127.0.0.1, and every redirect
// an HTTP client follows, is checked too.
//
// Client builds an HTTP client on it with bounded redirects, timeouts and
// response sizes (ReadBody). Tests that run servers on 127.0.0.1 set
// AllowPrivate; nothing else should.
package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbidden is returned when a destination is not allowed.
var ErrForbidden = errors.New("destination address not allowed")

// ErrTooLarge is returned by ReadBody when a body exceeds its bound.
var ErrTooLarge = errors.New("response too large")

// Guard decides which addresses may be dialled.
type Guard struct {
	// AllowPrivate lets connections reach loopback, private, link-local
	// and the other special-purpose addresses (tests against local
	// servers).
	AllowPrivate bool
	// Allow lists ranges allowed although special (an operator's own
	// keyserver on a private network; a test's 127.0.0.2).
	Allow []netip.Prefix
}

// special are the ranges refused besides what netip classifies: shared
// address space, benchmarking, documentation, reserved and the IPv6
// translation and discard prefixes.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// Allowed reports whether ip may be dialled.
func (g Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	if g.AllowPrivate {
		return true
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control hook refusing what Allowed refuses; it
// sees the resolved address of every connection attempt.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrForbidden, address, err)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbidden, ap.Addr())
	}
	return nil
}

// Dialer returns a dialer whose connections pass the guard. resolver, when
// non-nil, resolves names (tests point it at a local DNS server).
func (g Guard) Dialer(timeout time.Duration, resolver *net.Resolver) *net.Dialer {
	return &net.Dialer{Timeout: timeout, Control: g.Control, Resolver: resolver}
}

// ClientConfig configures Client.
type ClientConfig struct {
	// Timeout bounds a whole request, redirects and body included.
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed (0: none).
	MaxRedirects int
	// RootCAs verifies servers; nil means the system's roots.
	RootCAs *x509.CertPool
	// Resolver resolves names; nil means the system's.
	Resolver *net.Resolver
}

// Client returns an HTTP client whose every connection, redirects
// included, passes the guard, with no proxy, bounded redirects (each to
// http or https only) and bounded time.
func (g Guard) Client(cfg ClientConfig) *http.Client {
	d := g.Dialer(cfg.Timeout, cfg.Resolver)
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		MaxResponseHeaderBytes: 16 << 10,
		IdleConnTimeout:        30 * time.Second,
		MaxIdleConnsPerHost:    4,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("more than %d redirects", cfg.MaxRedirects)
			}
			if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
				return fmt.Errorf("redirect to scheme %q refused", req.URL.Scheme)
			}
			return nil
		},
	}
}

// ReadBody reads at most max bytes of r; a longer body is ErrTooLarge.
func ReadBody(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return b, nil
}

// Get fetches url with client and returns its body if the status is 200
// and the body holds at most max bytes. It returns the status as well (0
// when no answer came).
func Get(ctx context.Context, client *http.Client, url string, max int64) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, resp.StatusCode, fmt.Errorf("GET %s: status %d", req.URL.Redacted(), resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: %w: %d bytes announced, at most %d", req.URL.Redacted(), ErrTooLarge,
			resp.ContentLength, max)
	}
	b, err := ReadBody(resp.Body, max)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return b, resp.StatusCode, nil
}
