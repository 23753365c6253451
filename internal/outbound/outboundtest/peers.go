package outboundtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/peertest"
)

// peer runs scripts/test-peers/<script> with args unless the variable
// probe is already set, and returns the variables it exports (or the
// environment's). The test's cleanup stops the started server and removes
// the directory the script made for it.
func peer(t testing.TB, probe, script string, args ...string) map[string]string {
	t.Helper()
	prefix := probe[:strings.LastIndexByte(probe, '_')+1]
	if os.Getenv(probe) != "" {
		vars := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, prefix) {
				vars[k] = v
			}
		}
		return vars
	}
	return startPeer(t, probe, script, args...)
}

// startPeer runs scripts/test-peers/<script> with args and returns the
// variables it exports; the test's cleanup stops the server.
func startPeer(t testing.TB, probe, script string, args ...string) map[string]string {
	t.Helper()
	prefix := probe[:strings.LastIndexByte(probe, '_')+1]
	root := repoRoot(t)
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "test-peers", script)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		peertest.Missing(t, "%s failed: %v\n%s", script, err, stderr.String())
	}
	vars := parseExports(out)
	if pid := vars[prefix+"PID"]; pid != "" {
		t.Cleanup(func() {
			_ = exec.Command("bash", filepath.Join(root, "scripts", "test-peers", "stop.sh"), pid, vars[prefix+"DIR"]).Run()
		})
	}
	if vars[probe] == "" {
		peertest.Missing(t, "%s did not set %s", script, probe)
	}
	return vars
}

// parseExports reads "export K=V" lines.
func parseExports(out []byte) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = strings.Trim(v, `'"`)
		}
	}
	return vars
}

// repoRoot is the module's root: three folders above this file.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the outboundtest sources")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Sink is Postfix's smtp-sink, dumping every message.
type Sink struct {
	Addr string
	Dump string
}

// SMTPSink returns the smtp-sink of CALIOPEN_TEST_SMTP_SINK_ADDR, or
// starts one for the test.
func SMTPSink(t testing.TB) Sink {
	t.Helper()
	v := peer(t, "CALIOPEN_TEST_SMTP_SINK_ADDR", "smtp-sink.sh")
	return Sink{Addr: v["CALIOPEN_TEST_SMTP_SINK_ADDR"], Dump: v["CALIOPEN_TEST_SMTP_SINK_DUMP"]}
}

// Dumped is one transaction that smtp-sink dumped.
type Dumped struct {
	File  string
	Rcpts []string // from X-Rcpt-Args
	Raw   []byte   // the whole dump, smtp-sink's headers first
}

// Find returns the dumped transactions whose message contains needle
// (a Message-ID, say).
func (s Sink) Find(t testing.TB, needle string) []Dumped {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.Dump, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []Dumped
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(needle)) {
			continue
		}
		d := Dumped{File: f, Raw: b}
		for _, line := range strings.Split(string(b), "\n") {
			if r, ok := strings.CutPrefix(line, "X-Rcpt-Args: <"); ok {
				d.Rcpts = append(d.Rcpts, r[:strings.IndexByte(r, '>')])
			}
		}
		out = append(out, d)
	}
	return out
}

// PostfixRelay returns the private Postfix relay of
// CALIOPEN_TEST_POSTFIX_RELAY_ADDR, or starts one relaying to nexthop
// (host:port) for the test.
func PostfixRelay(t testing.TB, nexthop string) string {
	t.Helper()
	v := peer(t, "CALIOPEN_TEST_POSTFIX_RELAY_ADDR", "postfix-relay.sh", "", nexthop)
	return v["CALIOPEN_TEST_POSTFIX_RELAY_ADDR"]
}

// IMAP is a Dovecot IMAP server with one user: plaintext with STARTTLS on
// Addr, implicit TLS on TLSAddr, its certificate (PEM) in the file CA.
type IMAP struct {
	Addr, User, Pass string
	TLSAddr, CA      string
}

// DovecotIMAP returns the Dovecot of CALIOPEN_TEST_DOVECOT_IMAP_ADDR, or
// starts one for the test.
func DovecotIMAP(t testing.TB) IMAP {
	t.Helper()
	return imapOf(peer(t, "CALIOPEN_TEST_DOVECOT_IMAP_ADDR", "dovecot-imap.sh"))
}

// PrivateDovecotIMAP starts a Dovecot of the test's own, whose INBOX no
// other test touches, whatever the environment names.
func PrivateDovecotIMAP(t testing.TB) IMAP {
	t.Helper()
	return imapOf(startPeer(t, "CALIOPEN_TEST_DOVECOT_IMAP_ADDR", "dovecot-imap.sh"))
}

func imapOf(v map[string]string) IMAP {
	return IMAP{Addr: v["CALIOPEN_TEST_DOVECOT_IMAP_ADDR"], User: v["CALIOPEN_TEST_DOVECOT_IMAP_USER"],
		Pass: v["CALIOPEN_TEST_DOVECOT_IMAP_PASS"], TLSAddr: v["CALIOPEN_TEST_DOVECOT_IMAP_TLS_ADDR"],
		CA: v["CALIOPEN_TEST_DOVECOT_IMAP_CA"]}
}

// Jaeger is a Jaeger collector and query service.
type Jaeger struct {
	OTLP  string // the OTLP/HTTP receiver's base URL
	Query string // the query API's base URL
}

// JaegerPeer returns the Jaeger of CALIOPEN_TEST_JAEGER_OTLP, or starts
// one for the test (scripts/test-peers/jaeger.sh).
func JaegerPeer(t testing.TB) Jaeger {
	t.Helper()
	v := peer(t, "CALIOPEN_TEST_JAEGER_OTLP", "jaeger.sh")
	return Jaeger{OTLP: v["CALIOPEN_TEST_JAEGER_OTLP"], Query: v["CALIOPEN_TEST_JAEGER_QUERY"]}
}
