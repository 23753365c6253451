package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/peertest"
)

// proc and state mirror cmd/caliopen-cluster's state.json.
type proc struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Function string            `json:"function"`
	Addrs    map[string]string `json:"addrs"`
	PID      int               `json:"pid"`
	Starts   int               `json:"starts"`
	Ready    bool              `json:"ready"`
}

type state struct {
	NATSURL              string `json:"nats_url"`
	NATSCAFile           string `json:"nats_ca_file"`
	GatewayURL           string `json:"gateway_url"`
	StoreDSN             string `json:"store_dsn"`
	OperatorPasswordFile string `json:"operator_password_file"`
	AdminPasswordFile    string `json:"admin_password_file"`
	LocalDomain          string `json:"local_domain"`
	Procs                []proc `json:"procs"`
	// Replicas are the functions' replicas the provider runs.
	Replicas []replica `json:"replicas"`
}

// replica mirrors cmd/caliopen-cluster's Replica.
type replica struct {
	Function string `json:"function"`
	ID       string `json:"id"`
	PID      int    `json:"pid"`
	Ready    bool   `json:"ready"`
}

func (s state) proc(name string) (proc, bool) {
	for _, p := range s.Procs {
		if p.Name == name {
			return p, true
		}
	}
	return proc{}, false
}

func (s state) kind(kind string) []proc {
	var out []proc
	for _, p := range s.Procs {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// cluster is a running scripts/cluster.sh.
type cluster struct {
	dir string
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// missing skips the test, or fails it under CI=true.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	peertest.Missing(t, format, args...)
}

// pgBin is the folder of Debian's PostgreSQL programs, "" without them.
func pgBin() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(m[len(m)-1])
}

// checkPeers makes sure the peers scripts/cluster.sh starts are installed
// (scripts/test.sh installs them); the script would install them itself,
// which is no job for a test with a time budget.
func checkPeers(t testing.TB) {
	if pgBin() == "" {
		missing(t, "PostgreSQL's programs (/usr/lib/postgresql/*/bin; scripts/test-peers/postgres.sh installs them)")
	}
	if openFaaSGateway() == "" {
		missing(t, "the OpenFaaS CE gateway (bash scripts/test-peers/openfaas.sh builds it into ~/.cache/caliopen-tools)")
	}
	if _, err := os.Stat(prometheus()); err != nil {
		missing(t, "Prometheus, which the OpenFaaS gateway queries (%v; bash scripts/test-peers/openfaas.sh installs it)", err)
	}
	if _, err := exec.LookPath("versitygw"); err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(gopath)), "bin", "versitygw")); err != nil {
			missing(t, "versitygw (scripts/test-peers/versitygw.sh installs it)")
		}
	}
}

// openFaaSGateway is the OpenFaaS CE gateway scripts/test-peers/openfaas.sh
// built: CALIOPEN_TEST_OPENFAAS_GATEWAY, else the one of tools/go.mod's
// version in its cache; "" when there is none.
func openFaaSGateway() string {
	if p := os.Getenv("CALIOPEN_TEST_OPENFAAS_GATEWAY"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return ""
	}
	mod, err := os.ReadFile(filepath.Join("..", "..", "tools", "go.mod"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/openfaas/faas/gateway" {
			cache := os.Getenv("CALIOPEN_TOOLS_CACHE")
			if cache == "" {
				dir, err := os.UserCacheDir()
				if err != nil {
					return ""
				}
				cache = filepath.Join(dir, "caliopen-tools")
			}
			p := filepath.Join(cache, "openfaas-gateway-"+f[1]+"-loopback1")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// prometheus is the Prometheus openfaas.sh names: CALIOPEN_TEST_PROMETHEUS,
// else Debian's.
func prometheus() string {
	if p := os.Getenv("CALIOPEN_TEST_PROMETHEUS"); p != "" {
		return p
	}
	return "/usr/bin/prometheus"
}

// startCluster runs scripts/cluster.sh on any free ports with its data in
// a temporary directory, and waits until every part is ready; env is
// added to its environment.
func startCluster(t testing.TB, timeout time.Duration, env ...string) *cluster {
	t.Helper()
	checkPeers(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// PostgreSQL runs as its own user when the test runs as root: it must
	// reach its data folder under the temporary directory.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stderr, err := os.Create(filepath.Join(dir, "cluster.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: filepath.Join(dir, "data"), out: &syncBuffer{}}
	c.cmd = exec.Command("bash", filepath.Join(root, "scripts", "cluster.sh"), "-base-port", "0")
	// The binaries in a folder kept between runs: go build relinks only
	// what changed, seconds instead of minutes on a busy machine.
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "caliopen-cluster", "bin")
	c.cmd.Env = append(append(os.Environ(), "CALIOPEN_CLUSTER_DIR="+c.dir, "CALIOPEN_CLUSTER_BIN="+bin,
		"CALIOPEN_TEST_OPENFAAS_GATEWAY="+openFaaSGateway(), "CALIOPEN_TEST_PROMETHEUS="+prometheus()), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = c.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			t.Errorf("the cluster did not stop within 90 s of SIGTERM")
			_ = c.cmd.Process.Kill()
		}
		stderr.Close()
	})
	deadline := time.After(timeout)
	for !strings.Contains(c.out.String(), "Press Ctrl-C") {
		select {
		case <-exited:
			t.Fatalf("scripts/cluster.sh exited (%v) before the cluster was ready; its output:\n%s\n%s", waitErr, c.out, tail(stderr.Name(), 40))
		case <-deadline:
			t.Fatalf("the cluster was not ready after %s; its output:\n%s\n%s", timeout, c.out, tail(stderr.Name(), 40))
		case <-time.After(500 * time.Millisecond):
		}
	}
	return c
}

func tail(file string, n int) string {
	b, _ := os.ReadFile(file)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (c *cluster) state(t testing.TB) state {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state.json: %v", err)
	}
	return s
}

// waitBack waits until the victim is back; it returns when it was.
func (c *cluster) waitBack(t testing.TB, v victim, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v.back(c.state(t)) {
			return time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%s did not come back within %s", v.name, timeout)
	return time.Now()
}

// streamLeader names the NATS server leading stream on the servers'
// monitoring endpoint (/jsz).
func streamLeader(ctx context.Context, s state, stream string) (string, error) {
	var errs []string
	for _, p := range s.kind("nats") {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.Addrs["monitor"]+"/jsz?accounts=true&streams=true", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		var jsz struct {
			Accounts []struct {
				Streams []struct {
					Name    string `json:"name"`
					Cluster struct {
						Leader string `json:"leader"`
					} `json:"cluster"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		err = json.NewDecoder(resp.Body).Decode(&jsz)
		resp.Body.Close()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, a := range jsz.Accounts {
			for _, st := range a.Streams {
				if st.Name == stream && st.Cluster.Leader != "" {
					return st.Cluster.Leader, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no leader of %s on the monitoring endpoints: %v", stream, errs)
}

// restartPostgres restarts the cluster's PostgreSQL (pg_ctl restart -m
// fast: the server ends every connection and starts again on the same port).
func (c *cluster) restartPostgres(t testing.TB) {
	t.Helper()
	pg := filepath.Join(c.dir, "postgres")
	// -l: the new server's output goes to its log, as postgres.sh starts
	// it; the command's own output to a file, so that nothing waits on a
	// pipe the server would inherit.
	args := []string{filepath.Join(pgBin(), "pg_ctl"), "-D", filepath.Join(pg, "data"), "-l", filepath.Join(pg, "postgres.log"),
		"-w", "-t", "60", "-m", "fast", "restart"}
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	out, err := os.CreateTemp(c.dir, "pg_ctl-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s", err, tail(out.Name(), 20))
	}
}
