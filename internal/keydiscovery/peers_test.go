package keydiscovery

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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

	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/testcert"
)

// testKey is a generated key: its entity, binary and armored forms.
type testKey struct {
	e       *openpgp.Entity
	bin     []byte
	armored string
	fpr     string
}

// newKey makes an EdDSA key for "Name <email>"; mutate may revoke or
// expire it before it is serialized.
func newKey(t *testing.T, email string, created time.Time, lifetime uint32, mutate func(*openpgp.Entity)) testKey {
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
	return testKey{e: e, bin: bin.Bytes(), armored: arm.String(), fpr: fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)}
}

func key(t *testing.T, email string) testKey {
	return newKey(t, email, time.Now().Add(-time.Hour), 0, nil)
}

// dnsServer is an authoritative DNS server on 127.0.0.1 built on
// miekg/dns, serving the records the test adds (A records for the test's
// hosts, OPENPGPKEY records); it sets the AD bit on answers for names
// under signed. hang makes it never answer names under that suffix.
type dnsServer struct {
	addr   string
	mu     sync.Mutex
	rrs    map[string][]dns.RR
	signed string
	hang   string
}

func newDNS(t *testing.T) *dnsServer {
	t.Helper()
	d := &dnsServer{rrs: map[string][]dns.RR{}}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: d}
	tcp := &dns.Server{Listener: ln, Handler: d}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return d
}

func (d *dnsServer) add(rr string) {
	r, err := dns.NewRR(rr)
	if err != nil {
		panic(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	name := strings.ToLower(r.Header().Name)
	d.rrs[name] = append(d.rrs[name], r)
}

func (d *dnsServer) host(name string) { d.add(name + ". 60 IN A 127.0.0.1") }

func (d *dnsServer) openpgpkey(addr string, data []byte) {
	local, domain, _ := SplitAddress(addr)
	d.add(DANEName(local, domain) + " 60 IN OPENPGPKEY " + base64.StdEncoding.EncodeToString(data))
}

func (d *dnsServer) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
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

// resolver resolves through the test's DNS server.
func (d *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, network, d.addr)
	}}
}

// world is a set of key servers on 127.0.0.1 under test domains: DNS, an
// HTTPS WKD server for every domain (its directory laid out as
// gpg-wks-client --install-key lays it out: <dir>/<domain>/hu/<hash>),
// and an HKP keyserver.
type world struct {
	t       *testing.T
	dns     *dnsServer
	wkdDir  string
	wkdPort int
	cert    testcert.Cert
	hkp     *hkpServer
	hkpURL  string
	hang    chan struct{}
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, dns: newDNS(t), wkdDir: t.TempDir(), hang: make(chan struct{})}
	t.Cleanup(func() { close(w.hang) })
	w.cert = testcert.NewFor(t, "*.test", "*.a.test", "*.b.test", "*.c.test", "*.d.test", "*.e.test",
		"*.hang.test", "*.big.test", "*.slow.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(w.serveWKD))
	srv.TLS = w.cert.Server()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	fmt.Sscan(u.Port(), &w.wkdPort)
	w.hkp = &hkpServer{keys: map[string][]testKey{}}
	hs := httptest.NewServer(w.hkp)
	t.Cleanup(hs.Close)
	w.hkpURL = hs.URL
	return w
}

// serveWKD serves the WKD directory: the advanced method on
// openpgpkey.<domain>, the direct method on <domain>. A host under
// hang.test never answers; under big.test it answers 2 MiB.
func (w *world) serveWKD(rw http.ResponseWriter, r *http.Request) {
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
		rest, ok := strings.CutPrefix(r.URL.Path, "/.well-known/openpgpkey/"+d+"/hu/")
		if !ok {
			http.NotFound(rw, r)
			return
		}
		domain, hash = d, rest
	} else {
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
	http.ServeFile(rw, r, filepath.Join(w.wkdDir, domain, "hu", hash))
}

// wkd installs k for addr in the WKD directory; advanced says whether
// openpgpkey.<domain> resolves (else only <domain> does).
func (w *world) wkd(addr string, data []byte, advanced bool) {
	local, domain, _ := SplitAddress(addr)
	dir := filepath.Join(w.wkdDir, domain, "hu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, WKDHash(local)), data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	if advanced {
		w.dns.host("openpgpkey." + domain)
	} else {
		w.dns.host(domain)
	}
}

// hkpServer is an in-test HKP keyserver (op=index and op=get, options=mr,
// and /pks/add). It stands in for a packaged keyserver in these unit
// tests; the GnuPG agreement test runs against the real peers.
type hkpServer struct {
	mu   sync.Mutex
	keys map[string][]testKey // by lowercased address
	adds [][]byte
}

func (h *hkpServer) add(addr string, k testKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys[strings.ToLower(addr)] = append(h.keys[strings.ToLower(addr)], k)
}

func (h *hkpServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
			fmt.Fprintf(w, "pub:%s:22:256:%d::\nuid:Test <%s>:::\n", k.fpr, k.e.PrimaryKey.CreationTime.Unix(), search)
		}
	case "get":
		for _, ks := range h.keys {
			for _, k := range ks {
				if "0x"+strings.ToLower(k.fpr) == search {
					_, _ = w.Write([]byte(k.armored))
					return
				}
			}
		}
		http.NotFound(w, r)
	default:
		http.Error(w, "bad op", http.StatusBadRequest)
	}
}

// discoverer returns a Discoverer over the world's servers with local
// addresses allowed.
func (w *world) discoverer(timeout time.Duration) *Discoverer {
	g := netguard.Guard{AllowPrivate: true}
	client := g.Client(netguard.ClientConfig{Timeout: timeout, MaxRedirects: 3, RootCAs: w.cert.Pool,
		Resolver: w.dns.resolver()})
	return &Discoverer{
		Sources: []Source{
			&WKD{Client: client, Resolver: w.dns.resolver(), Port: w.wkdPort, MaxBytes: 1 << 20},
			&DANE{Server: w.dns.addr, Timeout: timeout, MaxBytes: 64 << 10},
			&HKP{Client: client, URL: w.hkpURL, MaxBytes: 1 << 20, MaxKeys: 5},
		},
		Timeout: timeout,
		Limits:  DefaultLimits,
	}
}
