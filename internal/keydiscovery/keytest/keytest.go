// Package keytest runs the key servers the key discovery tests use, on
// 127.0.0.1 under test domains: a DNS server (miekg/dns) with A and
// OPENPGPKEY records, an HTTPS server for every domain's Web Key Directory
// (a directory laid out as gpg-wks-client --install-key lays it out), and
// an HKP keyserver; and it makes OpenPGP keys.
package keytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/miekg/dns"

	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/testcert"
)

// Key is a generated key: its entity, binary and armored forms.
type Key struct {
	Entity  *openpgp.Entity
	Bin     []byte
	Armored string
	Fpr     string
}

// NewKey makes an EdDSA key for "Name <email>"; mutate may revoke or
// expire it before it is serialized.
func NewKey(t testing.TB, email string, created time.Time, lifetime uint32, mutate func(*openpgp.Entity)) Key {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: lifetime,
		Time: func() time.Time { return created }}
	e, err := openpgp.NewEntity("Test", "", email, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(e)
	}
	var bin bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	var arm bytes.Buffer
	w, _ := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	_, _ = w.Write(bin.Bytes())
	_ = w.Close()
	return Key{Entity: e, Bin: bin.Bytes(), Armored: arm.String(), Fpr: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)}
}

// KeyFor makes a key for email, created an hour ago, never expiring.
func KeyFor(t testing.TB, email string) Key {
	return NewKey(t, email, time.Now().Add(-time.Hour), 0, nil)
}

// DNS is an authoritative DNS server on 127.0.0.1 built on
// miekg/dns, serving the records the test adds (A records for the test's
// hosts, OPENPGPKEY records); it sets the AD bit on answers for names
// under the suffix SetSigned names; it never answers names under the
// suffix SetHang names.
type DNS struct {
	// Addr is the server's host:port (UDP and TCP).
	Addr   string
	mu     sync.Mutex
	rrs    map[string][]dns.RR
	signed string
	hang   string
}

// NewDNS starts a DNS server for the test.
func NewDNS(t *testing.T) *DNS {
	t.Helper()
	d := &DNS{rrs: map[string][]dns.RR{}}
	// One port for UDP and TCP, as a resolver expects: the UDP port the
	// system picks may be taken over TCP by another process, so try again.
	var pc net.PacketConn
	var ln net.Listener
	for attempt := 0; ln == nil; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if attempt == 20 {
				t.Fatalf("no port free over both UDP and TCP: %v", err)
			}
		}
	}
	d.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: d}
	tcp := &dns.Server{Listener: ln, Handler: d}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return d
}

// SetSigned sets the AD bit on answers for names under suffix ("" for
// none), as a validating resolver would for a signed zone.
func (d *DNS) SetSigned(suffix string) {
	d.mu.Lock()
	d.signed = suffix
	d.mu.Unlock()
}

// SetHang makes the server drop queries for names under suffix.
func (d *DNS) SetHang(suffix string) {
	d.mu.Lock()
	d.hang = suffix
	d.mu.Unlock()
}

// Add adds a record in zone-file syntax.
func (d *DNS) Add(rr string) {
	r, err := dns.NewRR(rr)
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	name := strings.ToLower(r.Header().Name)
	d.rrs[name] = append(d.rrs[name], r)
}

// Host makes name resolve to 127.0.0.1.
func (d *DNS) Host(name string) { d.Add(name + ". 60 IN A 127.0.0.1") }

// OpenPGPKey adds the OPENPGPKEY record of addr.
func (d *DNS) OpenPGPKey(addr string, data []byte) {
	local, domain, _ := keydiscovery.SplitAddress(addr)
	d.Add(keydiscovery.DANEName(local, domain) + " 60 IN OPENPGPKEY " + base64.StdEncoding.EncodeToString(data))
}

func (d *DNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	d.mu.Lock()
	hang, signed := d.hang, d.signed
	rrs := d.rrs[name]
	d.mu.Unlock()
	if hang != "" && strings.HasSuffix(name, hang) {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 && len(rrs) == 0 {
		m.Rcode = dns.RcodeNameError
	}
	m.AuthenticatedData = signed != "" && strings.HasSuffix(name, signed)
	_ = w.WriteMsg(m)
}

// Resolver resolves through the test's DNS server.
func (d *DNS) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.Addr)
	}}
}

// World is a set of key servers on 127.0.0.1 under test domains: DNS, an
// HTTPS WKD server for every domain (its directory laid out as
// gpg-wks-client --install-key lays it out: <dir>/<domain>/hu/<hash>),
// and an HKP keyserver.
type World struct {
	t *testing.T
	// DNS serves the test domains.
	DNS *DNS
	// WKDDir is the directory the WKD server serves:
	// <dir>/<domain>/hu/<hash>.
	WKDDir string
	// WKDPort is the WKD server's HTTPS port on 127.0.0.1.
	WKDPort int
	// Cert is the WKD server's certificate (*.test and subdomains).
	Cert testcert.Cert
	// HKP is the keyserver, at HKPURL.
	HKP    *HKP
	HKPURL string
	hang   chan struct{}
}

// NewWorld starts the servers for the test.
func NewWorld(t *testing.T) *World {
	t.Helper()
	w := &World{t: t, DNS: NewDNS(t), WKDDir: t.TempDir(), hang: make(chan struct{})}
	t.Cleanup(func() { close(w.hang) })
	w.Cert = testcert.NewFor(t, "*.test", "*.a.test", "*.b.test", "*.c.test", "*.d.test", "*.e.test",
		"*.hang.test", "*.big.test", "*.slow.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(w.serveWKD))
	srv.TLS = w.Cert.Server()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	fmt.Sscan(u.Port(), &w.WKDPort)
	w.HKP = &HKP{keys: map[string][]Key{}}
	hs := httptest.NewServer(w.HKP)
	t.Cleanup(hs.Close)
	w.HKPURL = hs.URL
	return w
}

// serveWKD serves the WKD directory: the advanced method on
// openpgpkey.<domain>, the direct method on <domain>. A host under
// hang.test never answers; under big.test it answers 2 MiB.
func (w *World) serveWKD(rw http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch {
	case strings.HasSuffix(host, "hang.test"):
		select {
		case <-w.hang:
		case <-r.Context().Done():
		}
		return
	case strings.HasSuffix(host, "big.test"):
		_, _ = rw.Write(bytes.Repeat([]byte{0x99}, 2<<20))
		return
	}
	var domain, hash string
	if d, ok := strings.CutPrefix(host, "openpgpkey."); ok {
		if r.URL.Path == "/.well-known/openpgpkey/"+d+"/policy" {
			http.ServeFile(rw, r, filepath.Join(w.WKDDir, d, "policy"))
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/.well-known/openpgpkey/"+d+"/hu/")
		if !ok {
			http.NotFound(rw, r)
			return
		}
		domain, hash = d, rest
	} else {
		if r.URL.Path == "/.well-known/openpgpkey/policy" {
			http.ServeFile(rw, r, filepath.Join(w.WKDDir, host, "policy"))
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/.well-known/openpgpkey/hu/")
		if !ok {
			http.NotFound(rw, r)
			return
		}
		domain, hash = host, rest
	}
	if strings.ContainsAny(hash, "/.") {
		http.NotFound(rw, r)
		return
	}
	http.ServeFile(rw, r, filepath.Join(w.WKDDir, domain, "hu", hash))
}

// WKD installs k for addr in the WKD directory; advanced says whether
// openpgpkey.<domain> resolves (else only <domain> does).
func (w *World) WKD(addr string, data []byte, advanced bool) {
	local, domain, _ := keydiscovery.SplitAddress(addr)
	dir := filepath.Join(w.WKDDir, domain, "hu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keydiscovery.WKDHash(local)), data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	if advanced {
		w.DNS.Host("openpgpkey." + domain)
	} else {
		w.DNS.Host(domain)
	}
}

// Policy publishes domain's WKD policy file (empty, as gpg-wks-client
// --install-key leaves it): the domain has a Web Key Directory.
func (w *World) Policy(domain string, advanced bool) {
	dir := filepath.Join(w.WKDDir, domain)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "policy"), nil, 0o644); err != nil {
		w.t.Fatal(err)
	}
	if advanced {
		w.DNS.Host("openpgpkey." + domain)
	} else {
		w.DNS.Host(domain)
	}
}

// HKP is an in-test HKP keyserver (op=index and op=get, options=mr,
// and /pks/add). It stands in for a packaged keyserver in these unit
// tests; the GnuPG agreement test runs against the real peers.
type HKP struct {
	mu   sync.Mutex
	keys map[string][]Key // by lowercased address
	adds [][]byte
}

// Add lists k for addr.
func (h *HKP) Add(addr string, k Key) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys[strings.ToLower(addr)] = append(h.keys[strings.ToLower(addr)], k)
}

// Uploads returns the keytext of every /pks/add so far.
func (h *HKP) Uploads() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([][]byte(nil), h.adds...)
}

// ServeHTTP serves /pks/lookup and /pks/add.
func (h *HKP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.URL.Path == "/pks/add" {
		_ = r.ParseForm()
		h.adds = append(h.adds, []byte(r.PostForm.Get("keytext")))
		return
	}
	q := r.URL.Query()
	search := strings.ToLower(q.Get("search"))
	switch q.Get("op") {
	case "index":
		ks := h.keys[search]
		if len(ks) == 0 {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "info:1:%d\n", len(ks))
		for _, k := range ks {
			fmt.Fprintf(w, "pub:%s:22:256:%d::\nuid:Test <%s>:::\n", k.Fpr, k.Entity.PrimaryKey.CreationTime.Unix(), search)
		}
	case "get":
		for _, ks := range h.keys {
			for _, k := range ks {
				if "0x"+strings.ToLower(k.Fpr) == search {
					_, _ = w.Write([]byte(k.Armored))
					return
				}
			}
		}
		http.NotFound(w, r)
	default:
		http.Error(w, "bad op", http.StatusBadRequest)
	}
}

// Discoverer returns a Discoverer over the world's servers with local
// addresses allowed.
func (w *World) Discoverer(timeout time.Duration) *keydiscovery.Discoverer {
	g := netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	client := g.Client(netguard.ClientConfig{Timeout: timeout, MaxRedirects: 3, RootCAs: w.Cert.Pool,
		Resolver: w.DNS.Resolver()})
	return &keydiscovery.Discoverer{
		Sources: []keydiscovery.Source{
			&keydiscovery.WKD{Client: client, Resolver: w.DNS.Resolver(), Port: w.WKDPort, MaxBytes: 1 << 20},
			&keydiscovery.DANE{Server: w.DNS.Addr, Timeout: timeout, MaxBytes: 64 << 10},
			&keydiscovery.HKP{Client: client, URL: w.HKPURL, MaxBytes: 1 << 20, MaxKeys: 5},
		},
		Timeout: timeout,
		Limits:  keydiscovery.DefaultLimits,
	}
}

// Env is the key-action configuration that points it at the world's
// servers (local addresses allowed, the test certificate trusted through
// the certificate file Env writes).
func (w *World) Env() map[string]string {
	ca, _ := w.Cert.Files(w.t)
	return map[string]string{
		"CALIOPEN_KEYS_HKP_SERVERS": w.HKPURL,
		"CALIOPEN_KEYS_DNS_SERVER":  w.DNS.Addr,
		"CALIOPEN_EGRESS_ALLOW":     "127.0.0.1",
		"CALIOPEN_KEYS_WKD_PORT":    fmt.Sprint(w.WKDPort),
		"CALIOPEN_KEYS_CA_FILE":     ca,
		"CALIOPEN_KEYS_TIMEOUT":     "5s",
	}
}
