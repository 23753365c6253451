package keydiscovery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// Found is one answer of a source: key material to check, where it came
// from, and whether the channel authenticated it.
type Found struct {
	Data          []byte
	Source        string // store.KeySourceWKD, ...
	Origin        string // the URL or DNS name that answered
	Authenticated bool
}

// Source looks keys up for an address. A source that has nothing returns
// no Found and no error.
type Source interface {
	Name() string
	Lookup(ctx context.Context, addr string) ([]Found, error)
}

// WKD looks keys up in the Web Key Directory of the address's domain.
type WKD struct {
	// Client fetches (a netguard client).
	Client *http.Client
	// Resolver tells whether openpgpkey.<domain> exists; nil means the
	// system's.
	Resolver *net.Resolver
	// Port is the HTTPS port, 0 for 443 (tests serve elsewhere).
	Port int
	// MaxBytes bounds an answer.
	MaxBytes int64
}

// Name is "wkd".
func (w *WKD) Name() string { return store.KeySourceWKD }

// URLs returns the advanced and direct method URLs of addr.
func (w *WKD) URLs(addr string) (advanced, direct string, err error) {
	local, domain, ok := SplitAddress(addr)
	if !ok {
		return "", "", fmt.Errorf("wkd: %q is not an address", addr)
	}
	host := func(h string) string {
		if w.Port != 0 && w.Port != 443 {
			return net.JoinHostPort(h, strconv.Itoa(w.Port))
		}
		return h
	}
	path := "/hu/" + WKDHash(local) + "?l=" + url.QueryEscape(local)
	advanced = "https://" + host("openpgpkey."+domain) + "/.well-known/openpgpkey/" + domain + path
	direct = "https://" + host(domain) + "/.well-known/openpgpkey" + path
	return advanced, direct, nil
}

// ErrWKDNoKey is the answer of a domain that publishes a Web Key
// Directory (its policy file is there) and no key for the address: the
// domain is authoritative, so Discover asks no keyserver about it.
var ErrWKDNoKey = errors.New("the domain's WKD has no key for the address")

// Lookup fetches the key of addr: by the advanced method when
// openpgpkey.<domain> resolves, else by the direct method (GnuPG's
// choice). 404 is no key: ErrWKDNoKey when the directory's policy file
// is there (the domain has a WKD), no error otherwise.
func (w *WKD) Lookup(ctx context.Context, addr string) ([]Found, error) {
	advanced, direct, err := w.URLs(addr)
	if err != nil {
		return nil, err
	}
	_, domain, _ := SplitAddress(addr)
	r := w.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	u := direct
	if _, err := r.LookupHost(ctx, "openpgpkey."+domain); err == nil {
		u = advanced
	} else if ctx.Err() != nil {
		return nil, fmt.Errorf("wkd: resolve openpgpkey.%s: %w", domain, ctx.Err())
	}
	body, status, err := netguard.Get(ctx, w.Client, u, w.MaxBytes)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil, nil // no such host: no WKD
	}
	if status == http.StatusNotFound {
		// No key there: the domain has a WKD if its policy file is there.
		policy := u[:strings.Index(u, "/hu/")] + "/policy"
		if _, pstatus, _ := netguard.Get(ctx, w.Client, policy, 64<<10); pstatus == http.StatusOK {
			return nil, ErrWKDNoKey
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wkd: %w", err)
	}
	return []Found{{Data: body, Source: store.KeySourceWKD, Origin: u, Authenticated: true}}, nil
}

// DANE looks OPENPGPKEY records up (RFC 7929) through a recursive
// resolver the operator trusts.
type DANE struct {
	// Server is the resolver's host:port.
	Server string
	// Timeout bounds one exchange (the lookup's context bounds the
	// whole).
	Timeout time.Duration
	// MaxBytes bounds one record's key.
	MaxBytes int
}

// Name is "dane".
func (d *DANE) Name() string { return store.KeySourceDANE }

// Lookup asks for the OPENPGPKEY records of addr with the DNSSEC OK bit
// set; Authenticated is the answer's AD bit (the resolver validated it).
// A truncated UDP answer is asked again over TCP. NXDOMAIN or no record
// is no key.
func (d *DANE) Lookup(ctx context.Context, addr string) ([]Found, error) {
	local, domain, ok := SplitAddress(addr)
	if !ok {
		return nil, fmt.Errorf("dane: %q is not an address", addr)
	}
	name := DANEName(local, domain)
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeOPENPGPKEY)
	m.SetEdns0(4096, true)
	m.AuthenticatedData = true
	c := &dns.Client{Net: "udp", Timeout: d.Timeout, UDPSize: 4096}
	resp, _, err := c.ExchangeContext(ctx, m, d.Server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, d.Server)
	}
	if err != nil {
		return nil, fmt.Errorf("dane: %s: %w", name, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, nil
	default:
		return nil, fmt.Errorf("dane: %s: %s", name, dns.RcodeToString[resp.Rcode])
	}
	var out []Found
	for _, rr := range resp.Answer {
		k, ok := rr.(*dns.OPENPGPKEY)
		if !ok || !strings.EqualFold(k.Hdr.Name, name) {
			continue
		}
		if base64.StdEncoding.DecodedLen(len(k.PublicKey)) > d.MaxBytes {
			return nil, fmt.Errorf("dane: %s: %w", name, netguard.ErrTooLarge)
		}
		data, err := base64.StdEncoding.DecodeString(k.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("dane: %s: bad record: %w", name, err)
		}
		out = append(out, Found{Data: data, Source: store.KeySourceDANE, Origin: name, Authenticated: resp.AuthenticatedData})
	}
	return out, nil
}

// HKP looks keys up on one keyserver.
type HKP struct {
	// Client fetches (a netguard client).
	Client *http.Client
	// URL is the keyserver: hkp://host[:port] (port 11371), hkps://host
	// (443), or an http(s) URL.
	URL string
	// MaxBytes bounds an answer; MaxKeys the keys fetched per address.
	MaxBytes int64
	MaxKeys  int
}

// Name is "hkp".
func (h *HKP) Name() string { return store.KeySourceHKP }

// BaseURL turns a keyserver's hkp:// or hkps:// URL into its HTTP base.
func BaseURL(server string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(server))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("keyserver %q: want hkp://host, hkps://host or an http(s) URL", server)
	}
	switch u.Scheme {
	case "hkp":
		u.Scheme = "http"
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "11371")
		}
	case "hkps":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("keyserver %q: scheme %q", server, u.Scheme)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// Lookup searches the keyserver's machine-readable index for addr, then
// fetches each listed key that is not flagged revoked, disabled or
// expired (at most MaxKeys). 404 is no key.
func (h *HKP) Lookup(ctx context.Context, addr string) ([]Found, error) {
	base, err := BaseURL(h.URL)
	if err != nil {
		return nil, err
	}
	index := base + "/pks/lookup?op=index&options=mr&search=" + url.QueryEscape(addr)
	body, status, err := netguard.Get(ctx, h.Client, index, h.MaxBytes)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hkp: %w", err)
	}
	ids := indexKeys(body)
	if len(ids) > h.MaxKeys {
		ids = ids[:h.MaxKeys]
	}
	var out []Found
	var errs []error
	for _, id := range ids {
		get := base + "/pks/lookup?op=get&options=mr&search=0x" + id
		data, status, err := netguard.Get(ctx, h.Client, get, h.MaxBytes)
		if status == http.StatusNotFound {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("hkp: %w", err))
			continue
		}
		out = append(out, Found{Data: data, Source: store.KeySourceHKP, Origin: get,
			Authenticated: strings.HasPrefix(base, "https://")})
	}
	return out, errors.Join(errs...)
}

// indexKeys reads the key ids or fingerprints of a machine-readable
// index (draft-shaw-openpgp-hkp §5.2): "pub:<id>:<algo>:<bits>:<created>:
// <expires>:<flags>" lines; keys flagged r (revoked), d (disabled) or e
// (expired) are left out.
func indexKeys(body []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) < 2 || f[0] != "pub" {
			continue
		}
		id := strings.ToUpper(f[1])
		if id == "" || strings.Trim(id, "0123456789ABCDEF") != "" {
			continue
		}
		if len(f) >= 7 && strings.ContainsAny(f[6], "rde") {
			continue
		}
		out = append(out, id)
	}
	return out
}
