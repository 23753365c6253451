// Package netguard is the one egress guard of every connection whose
// destination a user or a caller chooses: the remote IMAP and SMTP
// servers of remote identities, the callbacks of asynchronous calls, key
// discovery (WKD, HKP and their redirects). By default it never connects
// to loopback, private (RFC 1918, unique-local), link-local (the cloud
// metadata services among them), shared (CGNAT), multicast, unspecified or
// other special-purpose addresses. The check runs on the address actually
// dialled, after name resolution (a net.Dialer Control hook), so a name
// that resolves to 127.0.0.1 is refused, and a name that changes its
// answer between two lookups (DNS rebinding) gains nothing.
//
// The operator lets named hosts or prefixes through with one setting,
// CALIOPEN_EGRESS_ALLOW (Load): an internal keyserver, a relay, a test's
// loopback peers. A host named there is dialled whatever it resolves to; a
// prefix lets its addresses through for any name. Nothing switches the
// guard off.
//
// Client builds an HTTP client on it with bounded redirects, timeouts and
// response sizes (ReadBody).
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is returned when a destination is not allowed.
var ErrForbidden = errors.New("destination address not allowed")

// ErrTooLarge is returned by ReadBody when a body exceeds its bound.
var ErrTooLarge = errors.New("response too large")

// Guard decides which addresses may be dialled. Its zero value refuses
// every special-purpose address.
type Guard struct {
	// Allow lists ranges allowed although special (an operator's own
	// keyserver on a private network; a test's 127.0.0.1/32).
	Allow []netip.Prefix
	// AllowHosts lists host names (lower case, no trailing dot) dialled
	// whatever they resolve to (an operator's relay or keyserver).
	AllowHosts []string
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

// HostAllowed reports whether host is one of AllowHosts (an address
// literal never is: Allow holds addresses).
func (g Guard) HostAllowed(host string) bool {
	if len(g.AllowHosts) == 0 {
		return false
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return slices.Contains(g.AllowHosts, host)
}

// DialerFor returns the dialer of a connection to addr (host:port): the
// guarded Dialer, or, when the host is one the operator named, a dialer
// without the check.
func (g Guard) DialerFor(addr string, timeout time.Duration, resolver *net.Resolver) *net.Dialer {
	if host, _, err := net.SplitHostPort(addr); err == nil && g.HostAllowed(host) {
		return &net.Dialer{Timeout: timeout, Resolver: resolver}
	}
	return g.Dialer(timeout, resolver)
}

// DialContext dials addr through DialerFor (an http.Transport's
// DialContext).
func (g Guard) DialContext(timeout time.Duration, resolver *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	guarded := g.Dialer(timeout, resolver)
	open := &net.Dialer{Timeout: timeout, Resolver: resolver}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && g.HostAllowed(host) {
			return open.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// Settings read by Load.
const (
	// EnvAllow lists the hosts and prefixes let through although
	// special: comma- or space-separated host names, addresses and CIDR
	// prefixes ("keys.internal, 10.2.0.0/16, 127.0.0.1").
	EnvAllow = "CALIOPEN_EGRESS_ALLOW"
	// EnvLegacyAllowPrivate is deprecated: "true" once let key discovery
	// reach every private address. Load reads it as an allow list of every
	// address, for key discovery only (LoadKeys), and says it is
	// deprecated.
	EnvLegacyAllowPrivate = "CALIOPEN_KEYS_ALLOW_PRIVATE"
)

// ParseAllow reads an allow list (EnvAllow's syntax).
func ParseAllow(v string) (Guard, error) {
	var g Guard
	var errs []error
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			g.Allow = append(g.Allow, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			g.Allow = append(g.Allow, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		h := strings.TrimSuffix(strings.ToLower(f), ".")
		if !validHost(h) {
			errs = append(errs, fmt.Errorf("%q is no host name, address or CIDR prefix", f))
			continue
		}
		g.AllowHosts = append(g.AllowHosts, h)
	}
	return g, errors.Join(errs...)
}

// validHost reports whether h is a DNS host name.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// MustParseAllow is ParseAllow for an allow list known to be right (a
// test's loopback peers); it panics on an error.
func MustParseAllow(v string) Guard {
	g, err := ParseAllow(v)
	if err != nil {
		panic(err)
	}
	return g
}

// Load reads the guard from EnvAllow.
func Load(getenv func(string) string) (Guard, error) {
	g, err := ParseAllow(getenv(EnvAllow))
	if err != nil {
		return Guard{}, fmt.Errorf("%s: %w", EnvAllow, err)
	}
	return g, nil
}

// LoadKeys is Load for key discovery, which also reads the deprecated
// EnvLegacyAllowPrivate: "true" allows every address, as it did, and the
// returned warning says to list hosts or prefixes in EnvAllow instead.
func LoadKeys(getenv func(string) string) (g Guard, warning string, err error) {
	g, err = Load(getenv)
	v := strings.TrimSpace(getenv(EnvLegacyAllowPrivate))
	if v == "" {
		return g, "", err
	}
	on, perr := strconv.ParseBool(v)
	if perr != nil {
		return g, "", errors.Join(err, fmt.Errorf("%s: %q is not a boolean", EnvLegacyAllowPrivate, v))
	}
	if !on {
		return g, EnvLegacyAllowPrivate + " is deprecated and has no effect; remove it", err
	}
	g.Allow = append(g.Allow, netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"))
	return g, EnvLegacyAllowPrivate + "=true is deprecated: it lets key discovery reach every address; " +
		"list the hosts or prefixes to allow in " + EnvAllow + " instead", err
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
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext(cfg.Timeout, cfg.Resolver),
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
