package keytest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/testcert"
)

// Variables scripts/test-peers/keyservers.sh exports.
const (
	EnvGPG       = "CALIOPEN_TEST_GPG"
	EnvWKSClient = "CALIOPEN_TEST_GPG_WKS_CLIENT"
	EnvNSD       = "CALIOPEN_TEST_NSD"
	EnvSKS       = "CALIOPEN_TEST_SKS"
)

// Peers are the real servers of the GnuPG agreement tests, each on its own
// address of a loopback network 127.77.<n>.0/24 picked for the test:
// nsd on .53 port 53 (the test domains' A records and the OPENPGPKEY
// records gpg --export-options export-dane makes), sks on .90 port 11371
// (built from the HKP keys), and an HTTPS server on .80 port 443 serving
// the directory gpg-wks-client --install-key lays out (static files; a Go
// file server). gpg runs in a private mount namespace whose
// /etc/resolv.conf names the nsd and whose CA bundle is the test
// certificate, so it resolves and trusts exactly what the test serves.
type Peers struct {
	t        testing.TB
	Net      string // "127.77.<n>."
	dir      string
	gpg, wks string
	nsd, sks string
	Cert     testcert.Cert
	// pub is the GNUPGHOME the test's keys are imported into, to export
	// them for DANE and the WKD directory.
	pub      string
	zones    map[string][]string // domain → records
	dane     map[string][]byte   // domain → export-dane text
	hkp      [][]byte            // binary keys for sks
	wkdDir   string
	imported map[string]bool // fingerprints in pub
}

// NewPeers finds the tools (skipping, or failing under CI=true, when
// scripts/test-peers/keyservers.sh has not run or namespaces are not
// allowed) and prepares the servers; Start starts them.
func NewPeers(t testing.TB) *Peers {
	t.Helper()
	p := &Peers{t: t, dir: t.TempDir(), zones: map[string][]string{}, dane: map[string][]byte{}, imported: map[string]bool{}}
	hint := "run scripts/test-peers/keyservers.sh"
	p.gpg = peertest.Env(t, EnvGPG, hint)
	p.wks = peertest.Env(t, EnvWKSClient, hint)
	p.nsd = peertest.Env(t, EnvNSD, hint)
	p.sks = peertest.Env(t, EnvSKS, hint)
	if out, err := exec.Command("unshare", "--mount", "true").CombinedOutput(); err != nil {
		peertest.Missing(t, "unshare --mount: %v %s (the GnuPG tests need root or CAP_SYS_ADMIN)", err, out)
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	p.Net = fmt.Sprintf("127.77.%d.", 1+int(b[0])%250)
	p.pub = p.home("pub")
	p.wkdDir = p.home("wkd")
	p.Cert = testcert.NewFor(t, "wa.test", "wd.test", "dn.test", "hk.test", "caliopen.local", "*.wa.test", "*.wd.test",
		"*.dn.test", "*.hk.test", "*.caliopen.local")
	return p
}

// IP is the peers' address ending in last.
func (p *Peers) IP(last int) string { return fmt.Sprintf("%s%d", p.Net, last) }

// DNSAddr is nsd's host:port.
func (p *Peers) DNSAddr() string { return p.IP(53) + ":53" }

// home makes a GNUPGHOME.
func (p *Peers) home(name string) string {
	h := filepath.Join(p.dir, name)
	if err := os.MkdirAll(h, 0o700); err != nil {
		p.t.Fatal(err)
	}
	return h
}

// run runs a command and fails the test on error.
func (p *Peers) run(env []string, name string, args ...string) []byte {
	p.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Import imports keys into the publisher's keyring in one gpg run (WKD
// and DANE import what is missing one key at a time).
func (p *Peers) Import(keys ...Key) {
	var all []byte
	for _, k := range keys {
		f := filepath.Join(p.dir, k.Fpr+".pgp")
		if err := os.WriteFile(f, k.Bin, 0o600); err != nil {
			p.t.Fatal(err)
		}
		if !p.imported[k.Fpr] {
			p.imported[k.Fpr] = true
			all = append(all, k.Bin...)
		}
	}
	if len(all) == 0 {
		return
	}
	f := filepath.Join(p.dir, fmt.Sprintf("import-%d.pgp", time.Now().UnixNano()))
	if err := os.WriteFile(f, all, 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.run([]string{"GNUPGHOME=" + p.pub}, p.gpg, "--batch", "--quiet", "--import", f)
}

func (p *Peers) importKey(k Key) { p.Import(k) }

// Host makes name resolve to the peers' address ending in last.
func (p *Peers) Host(name string, last int) {
	domain := zoneOf(name)
	p.zones[domain] = append(p.zones[domain], name+". 60 IN A "+p.IP(last))
}

// zoneOf is the zone a test name belongs to: its last two labels.
func zoneOf(name string) string {
	l := strings.Split(strings.TrimSuffix(name, "."), ".")
	if len(l) < 2 {
		return name
	}
	return strings.Join(l[len(l)-2:], ".")
}

// Zone makes sure domain is served (an empty zone answers NXDOMAIN).
func (p *Peers) Zone(domain string) {
	if _, ok := p.zones[domain]; !ok {
		p.zones[domain] = nil
	}
}

// WKD publishes k for addr in the WKD directory with gpg-wks-client
// --install-key; advanced says whether openpgpkey.<domain> resolves (to
// the WKD server), else <domain> itself does (the direct method).
func (p *Peers) WKD(addr string, k Key, advanced bool) {
	p.importKey(k)
	f := filepath.Join(p.dir, k.Fpr+".pgp")
	p.run([]string{"GNUPGHOME=" + p.pub}, p.wks, "-C", p.wkdDir, "--install-key", f, addr)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if advanced {
		p.Host("openpgpkey."+domain, 80)
	} else {
		p.Host(domain, 80)
	}
}

// DANE publishes k's OPENPGPKEY record for addr, as gpg
// --export-options export-dane writes it.
func (p *Peers) DANE(addr string, k Key) { p.DANEMany(addr[strings.LastIndexByte(addr, '@')+1:], k) }

// DANEMany publishes the OPENPGPKEY records of keys, all of domain, in
// one gpg run.
func (p *Peers) DANEMany(domain string, keys ...Key) {
	p.Import(keys...)
	p.Zone(domain)
	args := []string{"--batch", "--export-options", "export-dane", "--export"}
	for _, k := range keys {
		args = append(args, k.Fpr)
	}
	p.dane[domain] = append(p.dane[domain], p.run([]string{"GNUPGHOME=" + p.pub}, p.gpg, args...)...)
}

// HKP puts k on the keyserver.
func (p *Peers) HKP(k Key) { p.hkp = append(p.hkp, k.Bin) }

// Start starts nsd, sks (when it has keys) and the WKD server, and serves
// extra (name → handler) over HTTPS on the addresses ending in .81, .82,
// ... with the test certificate, each name resolving to its address.
func (p *Peers) Start(extra map[string]http.Handler) {
	p.t.Helper()
	names := make([]string, 0, len(extra))
	for n := range extra {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		p.Host(n, 81+i)
		p.serveTLS(p.IP(81+i)+":443", extra[n])
	}
	p.serveTLS(p.IP(80)+":443", http.HandlerFunc(p.serveWKD))
	if len(p.hkp) > 0 {
		p.Host("keys.hk.test", 90)
	}
	p.startNSD()
	if len(p.hkp) > 0 {
		p.startSKS()
	}
}

// serveTLS serves h over HTTPS on addr.
func (p *Peers) serveTLS(addr string, h http.Handler) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatalf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: h, TLSConfig: p.Cert.Server(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	p.t.Cleanup(func() { _ = srv.Close() })
}

// serveWKD serves the gpg-wks-client directory: <dir>/<domain>/hu/<hash>
// and <dir>/<domain>/policy, for the advanced method (host
// openpgpkey.<domain>, the domain in the path) and the direct one.
func (p *Peers) serveWKD(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/.well-known/openpgpkey/")
	if !ok || strings.Contains(rest, "..") {
		http.NotFound(w, r)
		return
	}
	if d, ok := strings.CutPrefix(host, "openpgpkey."); ok {
		if !strings.HasPrefix(rest, d+"/") {
			http.NotFound(w, r)
			return
		}
	} else {
		rest = host + "/" + rest
	}
	http.ServeFile(w, r, filepath.Join(p.wkdDir, filepath.FromSlash(rest)))
}

// startNSD writes the zones and starts nsd in the foreground, without
// response rate limiting (every query of the test comes from one address).
func (p *Peers) startNSD() {
	dir := filepath.Join(p.dir, "nsd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  ip-address: %s@53\n  port: 53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: %q\n"+
		"  database: \"\"\n  pidfile: %q\n  xfrdfile: %q\n  zonelistfile: %q\n  logfile: %q\n  verbosity: 1\n"+
		"  rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n  server-count: 2\n"+
		"remote-control:\n  control-enable: no\n", p.IP(53), dir, filepath.Join(dir, "nsd.pid"),
		filepath.Join(dir, "xfrd.state"), filepath.Join(dir, "zone.list"), filepath.Join(dir, "nsd.log"))
	for domain, records := range p.zones {
		zone := fmt.Sprintf("$ORIGIN %s.\n$TTL 60\n@ IN SOA ns.%s. admin.%s. 1 3600 600 86400 60\n@ IN NS ns.%s.\nns IN A %s\n",
			domain, domain, domain, domain, p.IP(53))
		zone += strings.Join(records, "\n") + "\n" + string(p.dane[domain])
		if err := os.WriteFile(filepath.Join(dir, domain+".zone"), []byte(zone), 0o644); err != nil {
			p.t.Fatal(err)
		}
		fmt.Fprintf(&conf, "zone:\n  name: %s\n  zonefile: %s.zone\n", domain, domain)
	}
	cfg := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.daemon(p.nsd, "-d", "-c", cfg)
	p.waitUDP(p.DNSAddr())
}

// startSKS builds an sks database from the HKP keys and starts sks db on
// .90:11371. Debian's sks reads <basedir>/etc/sks/sksconf and keeps its
// files under <basedir>/var/{lib,log,run}/sks.
func (p *Peers) startSKS() {
	base := filepath.Join(p.dir, "sks")
	for _, d := range []string{"etc/sks", "var/lib/sks", "var/log/sks", "var/run/sks", "dump"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			p.t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("hkp_address: %s\nhkp_port: 11371\nrecon_address: %s\nrecon_port: 11370\n", p.IP(90), p.IP(90))
	if err := os.WriteFile(filepath.Join(base, "etc/sks/sksconf"), []byte(conf), 0o644); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "etc/sks/membership"), nil, 0o644); err != nil {
		p.t.Fatal(err)
	}
	dump := filepath.Join(base, "dump", "keys.pgp")
	if err := os.WriteFile(dump, bytes.Join(p.hkp, nil), 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.run(nil, p.sks, "build", dump, "-n", "10", "-cache", "100", "-basedir", base)
	p.run(nil, p.sks, "pbuild", "-cache", "20", "-ptree_cache", "70", "-basedir", base)
	p.daemon(p.sks, "db", "-basedir", base)
	p.waitTCP(p.IP(90) + ":11371")
}

// HKPURL is the keyserver's URL, under its name keys.hk.test (dirmngr
// does not take an IP address there).
func (p *Peers) HKPURL() string { return "hkp://keys.hk.test:11371" }

// daemon starts a server process, stopped (by its pid) when the test ends.
func (p *Peers) daemon(name string, args ...string) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", name, err)
	}
	p.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if p.t.Failed() {
			p.t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
}

func (p *Peers) waitTCP(addr string) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return
		}
	}
	p.t.Fatalf("%s does not listen", addr)
}

func (p *Peers) waitUDP(addr string) {
	p.waitTCP(addr) // nsd serves TCP and UDP on the same address
}

// Locate runs gpg --locate-external-keys for each address in a fresh
// GNUPGHOME with methods (e.g. "clear,wkd,dane,keyserver") and returns
// the fingerprints gpg imported per address of their user ids, lowercased.
func (p *Peers) Locate(methods string, addrs ...string) map[string][]string {
	p.t.Helper()
	got, _ := p.LocateTimed(methods, addrs...)
	return got
}

// LocateTimed is Locate that also says how long gpg took to locate the
// addresses one after another (its dirmngr started first, outside the
// time).
func (p *Peers) LocateTimed(methods string, addrs ...string) (map[string][]string, time.Duration) {
	p.t.Helper()
	home := p.home(fmt.Sprintf("locate-%d", time.Now().UnixNano()))
	dm := fmt.Sprintf("keyserver %s\nresolver-timeout 5\nconnect-timeout 5\nlog-file %s\n", p.HKPURL(),
		filepath.Join(home, "dirmngr.log"))
	if err := os.WriteFile(filepath.Join(home, "dirmngr.conf"), []byte(dm), 0o600); err != nil {
		p.t.Fatal(err)
	}
	resolv := filepath.Join(p.dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+p.IP(53)+"\noptions timeout:2 attempts:1\n"), 0o644); err != nil {
		p.t.Fatal(err)
	}
	ca := filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.TLS.Certificate[0]}), 0o644); err != nil {
		p.t.Fatal(err)
	}
	script := `set -u
mount --bind "$RESOLV" /etc/resolv.conf
mount --bind "$CA" /etc/ssl/certs/ca-certificates.crt
gpgconf --launch dirmngr
echo start
for a in "$@"; do gpg --batch --no-tty --auto-key-locate "$METHODS" --locate-external-keys "$a" >/dev/null 2>&1 || true; done
echo done
gpgconf --kill dirmngr`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "sh", "-c", script, "sh"}, addrs...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home, "RESOLV="+resolv, "CA="+ca, "METHODS="+methods,
		"PATH="+filepath.Dir(p.gpg)+":"+os.Getenv("PATH"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	var start time.Time
	var took time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		switch sc.Text() {
		case "start":
			start = time.Now()
		case "done":
			took = time.Since(start)
		}
	}
	if err := cmd.Wait(); err != nil {
		p.t.Fatalf("gpg in a mount namespace: %v\n%s", err, stderr.Bytes())
	}
	if os.Getenv("KEYTEST_DEBUG") != "" {
		b, _ := os.ReadFile(filepath.Join(home, "dirmngr.log"))
		p.t.Logf("dirmngr log:\n%s", b)
	}
	return listKeys(p.run([]string{"GNUPGHOME=" + home}, p.gpg, "--batch", "--with-colons", "--list-keys")), took
}

// listKeys reads gpg --with-colons --list-keys: fingerprints per user id
// address.
func listKeys(out []byte) map[string][]string {
	got := map[string][]string{}
	var fpr string
	inPub := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		switch f[0] {
		case "pub":
			inPub, fpr = true, ""
		case "sub":
			inPub = false
		case "fpr":
			if inPub && fpr == "" && len(f) > 9 {
				fpr = f[9]
			}
		case "uid":
			if len(f) > 9 {
				uid := f[9]
				if i, j := strings.LastIndexByte(uid, '<'), strings.LastIndexByte(uid, '>'); i >= 0 && j > i {
					addr := strings.ToLower(uid[i+1 : j])
					got[addr] = append(got[addr], fpr)
				}
			}
		}
	}
	for _, v := range got {
		sort.Strings(v)
	}
	return got
}
