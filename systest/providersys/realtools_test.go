package provider_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/openfaas/faas-provider/auth"

	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/peertest"
)

// tools are the real OpenFaaS tools of scripts/test-peers/openfaas.sh.
type tools struct {
	cli, gateway, prometheus string
}

// realTools returns the tools the environment names; without them the test
// is skipped, or fails under CI=true.
func realTools(t *testing.T) tools {
	t.Helper()
	tl := tools{cli: os.Getenv("CALIOPEN_TEST_FAAS_CLI"), gateway: os.Getenv("CALIOPEN_TEST_OPENFAAS_GATEWAY"),
		prometheus: os.Getenv("CALIOPEN_TEST_PROMETHEUS")}
	if tl.cli == "" || tl.gateway == "" || tl.prometheus == "" {
		msg := "CALIOPEN_TEST_FAAS_CLI, CALIOPEN_TEST_OPENFAAS_GATEWAY or CALIOPEN_TEST_PROMETHEUS unset " +
			"(vars=$(bash scripts/test-peers/openfaas.sh) && eval \"$vars\")"
		peertest.Missing(t, "%s", msg)
	}
	return tl
}

// freePort is a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a peer's process until the test ends, its output in the test's
// log folder, and waits for its port.
func start(t *testing.T, dir, name string, port int, env []string, bin string, args ...string) {
	t.Helper()
	out, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr, cmd.Dir = env, out, out, dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("%s's output:\n%s", name, tail(string(b), 40))
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(out.Name())
			t.Fatalf("%s exited before listening:\n%s", name, tail(string(b), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %d", name, port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// front is a gateway faas-cli talks to, with the provider behind it.
type front struct {
	h        *harness
	url      string // the gateway faas-cli is given
	password string
	home     string // faas-cli's HOME (its login)
	cli      string
	prom     string // Prometheus's URL, when the OpenFaaS gateway is the front
}

const basicAuthUser = "admin"

// newFront starts the provider behind the local gateway, with basic auth on
// its API and only api public, as caliopen-local -isolation=process serves
// it, with the real cmd/function; openfaas puts the OpenFaaS CE gateway in
// front (functions_provider_url at the local gateway, basic_auth with the
// same credentials), and a Prometheus scraping its metrics, which its
// /system/functions needs for the invocation counts.
func newFront(t *testing.T, tl tools, openfaas bool) *front {
	t.Helper()
	bin, err := functionBinary()
	if err != nil {
		t.Fatal(err)
	}
	password := "pw-" + strings.Repeat("x", 20)
	platform := localPlatform(t)
	h := newHarnessServing(t, bin, platform, time.Minute,
		gateway.Config{BasicAuth: &auth.BasicAuthCredentials{User: basicAuthUser, Password: password}}, []string{"api"})
	// Asynchronous calls, on the platform's JetStream, as the local system
	// serves them.
	nc, err := nats.Connect(platform["NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The test's callback server listens on loopback: allowed through the
	// egress guard's allow list, as an operator's CALIOPEN_EGRESS_ALLOW does,
	// never by switching the guard off.
	asyncCfg := gateway.DefaultAsyncConfig()
	asyncCfg.Guard.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	stopAsync, err := h.gw.ServeAsync(t.Context(), js, asyncCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopAsync)
	// faas-cli on the PATH under its own name, as the documents call it.
	cli := filepath.Join(t.TempDir(), "faas-cli")
	if err := os.Symlink(tl.cli, cli); err != nil {
		t.Fatal(err)
	}
	f := &front{h: h, url: h.url, password: password, home: t.TempDir(), cli: cli}
	if !openfaas {
		return f
	}
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"basic-auth-user": basicAuthUser, "basic-auth-password": password} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gwPort, metricsPort, promPort := freePort(t), freePort(t), freePort(t)
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: ["127.0.0.1:%d"]
`, metricsPort), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, dir, "prometheus", promPort, []string{"PATH=/usr/bin:/bin"}, tl.prometheus, "--config.file="+promCfg,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort), "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--log.level=warn")
	start(t, dir, "gateway", gwPort, []string{
		"functions_provider_url=" + h.url + "/", "basic_auth=true", "secret_mount_path=" + secrets,
		"faas_prometheus_host=127.0.0.1", fmt.Sprintf("faas_prometheus_port=%d", promPort),
		"read_timeout=60s", "write_timeout=60s", "upstream_timeout=55s", "scale_from_zero=true",
		fmt.Sprintf("CALIOPEN_GATEWAY_PORT=%d", gwPort), fmt.Sprintf("CALIOPEN_GATEWAY_METRICS_PORT=%d", metricsPort),
	}, tl.gateway)
	f.url = fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	f.prom = fmt.Sprintf("http://127.0.0.1:%d", promPort)
	return f
}

// run runs one command line in bash from the repository's root, faas-cli
// being the real one, OPENFAAS_URL the front's; it returns the output and
// whether it succeeded.
func (f *front) run(t *testing.T, line string, extraEnv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", line)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append([]string{"PATH=" + filepath.Dir(f.cli) + ":" + os.Getenv("PATH"), "HOME=" + f.home,
		"OPENFAAS_URL=" + f.url}, extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("$ %s\n%s", line, strings.TrimRight(out.String(), "\n"))
	return out.String(), err
}

// must runs line and fails the test unless it succeeds and its output
// matches every pattern.
func (f *front) must(t *testing.T, line string, patterns ...string) string {
	t.Helper()
	out, err := f.run(t, line)
	if err != nil {
		t.Errorf("%s: %v", line, err)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: output does not match %q", line, p)
		}
	}
	return out
}

// login logs faas-cli in with the provider's password.
func (f *front) login(t *testing.T) {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "basic-auth-password")
	if err := os.WriteFile(pw, []byte(f.password), 0o600); err != nil {
		t.Fatal(err)
	}
	f.must(t, "faas-cli login -u admin --password-stdin < "+pw, `credentials saved`)
}
