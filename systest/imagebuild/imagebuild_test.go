// Package imagebuild builds one function image with podman from
// templates/caliopen-go/Dockerfile, as an operator's builder does, and runs
// what it built.
package imagebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/peertest"
	"github.com/caliopen/functions/internal/secrets"
)

// function is the stack entry built: it needs only a store (SQLite in the
// image's /tmp) and NATS to answer an order.
const function = "contact-action"

// invokeKey is the invocation key the handler is given and the test signs
// with, as the connector does.
const invokeKey = "image-test-invocation-key-0123456789abcdef"

// TestImageBuild builds the contact-action image with podman build
// --isolation=chroot from exactly what "faas-cli build --shrinkwrap"
// copies, on the base images scripts/test-peers/image-bases.sh makes (their
// names as the Dockerfile's build args), then runs the image's filesystem
// under chroot, as the image's user, with the image's environment: the
// handler (the image's fprocess) answers an unsigned order with 401 and a
// signed one, on the port upstream_url names, with the store's answer.
//
// of-watchdog is not in the image built here: its Go module is not served
// by the module proxy (see image-bases.sh), and a container cannot be
// started here (the OCI runtime's setrlimit is refused), so the test starts
// fprocess itself, as the watchdog does, and checks the watchdog's
// settings (mode, upstream_url) against the handler's port.
func TestImageBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image: minutes")
	}
	vars := map[string]string{}
	for _, k := range []string{"CALIOPEN_TEST_PODMAN_ROOT", "CALIOPEN_TEST_PODMAN_RUNROOT",
		"CALIOPEN_TEST_IMAGE_GO", "CALIOPEN_TEST_IMAGE_RUNTIME", "CALIOPEN_TEST_IMAGE_WATCHDOG"} {
		if vars[k] = os.Getenv(k); vars[k] == "" {
			peertest.Missing(t, "%s is unset: eval the output of scripts/test-peers/image-bases.sh", k)
		}
	}
	for _, tool := range []string{"podman", "chroot"} {
		if _, err := exec.LookPath(tool); err != nil {
			peertest.Missing(t, "%s: %v", tool, err)
		}
	}
	if os.Geteuid() != 0 {
		peertest.Missing(t, "chroot and podman's storage need root")
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	cache := filepath.Dir(vars["CALIOPEN_TEST_PODMAN_ROOT"])
	podman := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "podman", append([]string{"--root", vars["CALIOPEN_TEST_PODMAN_ROOT"],
			"--runroot", vars["CALIOPEN_TEST_PODMAN_RUNROOT"], "--storage-driver", "overlay"}, args...)...)
		// buildah keeps the RUN cache mounts under TMPDIR: with the images.
		cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(cache, "tmp"))
		return cmd
	}
	if err := os.MkdirAll(filepath.Join(cache, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}

	root := moduleRoot(t)
	s, err := deploy.ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	fn, ok := s.Functions[function]
	if !ok {
		t.Fatalf("stack.yml has no %s", function)
	}
	buildCtx := filepath.Join(t.TempDir(), function)
	if err := deploy.Shrinkwrap(root, filepath.Join(root, "templates", deploy.Lang), s.Configuration.Copy, fn.Handler, buildCtx); err != nil {
		t.Fatal(err)
	}
	goproxy, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		t.Fatalf("go env GOPROXY: %v", err)
	}
	image := "localhost/caliopen-test/" + function + ":latest"
	args := []string{"build", "--isolation=chroot", "-t", image, "-f", filepath.Join(buildCtx, "Dockerfile"),
		"--build-arg", "GO_IMAGE=" + vars["CALIOPEN_TEST_IMAGE_GO"],
		"--build-arg", "RUNTIME_IMAGE=" + vars["CALIOPEN_TEST_IMAGE_RUNTIME"],
		"--build-arg", "WATCHDOG_IMAGE=" + vars["CALIOPEN_TEST_IMAGE_WATCHDOG"],
		"--build-arg", "GOPROXY=" + strings.TrimSpace(string(goproxy))}
	for k, v := range fn.BuildArgs {
		args = append(args, "--build-arg", k+"="+v)
	}
	start := time.Now()
	out, err := podman(append(args, buildCtx)...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("podman build of %s: %s\n%s", function, time.Since(start).Round(time.Second), lastLines(out, 15))

	var inspect []struct {
		Config struct {
			Env        []string
			User       string
			WorkingDir string
			Cmd        []string
		}
	}
	out, err = podman("image", "inspect", image).Output()
	if err != nil || json.Unmarshal(out, &inspect) != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect %s: %v\n%s", image, err, out)
	}
	cfg := inspect[0].Config
	env := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["FUNCTION"] != function || env["mode"] != "http" || env["fprocess"] == "" {
		t.Fatalf("image env %v: want FUNCTION=%s, mode=http and fprocess", cfg.Env, function)
	}
	upstream, err := url.Parse(env["upstream_url"])
	// 8082 is the handler's own default FUNCTION_PORT (cmd/function).
	if err != nil || upstream.Host != "127.0.0.1:8082" {
		t.Fatalf("image upstream_url %q: want the handler's default port, http://127.0.0.1:8082", env["upstream_url"])
	}
	if len(cfg.Cmd) != 1 || cfg.Cmd[0] != "./fwatchdog" {
		t.Errorf("image CMD %v, want [./fwatchdog]", cfg.Cmd)
	}
	uid, gid, err := numericUser(cfg.User)
	if err != nil {
		t.Fatal(err)
	}

	// A container's filesystem, made without running it, read-write.
	out, err = podman("create", "--name", "caliopen-imagetest-"+strconv.Itoa(os.Getpid()), image).Output()
	if err != nil {
		t.Fatalf("podman create: %v\n%s", err, out)
	}
	ctr := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		_ = podman("umount", ctr).Run()
		_ = podman("rm", "-f", ctr).Run()
	})
	out, err = podman("mount", ctr).Output()
	if err != nil {
		t.Fatalf("podman mount: %v\n%s", err, out)
	}
	rootfs := strings.TrimSpace(string(out))

	nats, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	keyLine, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env["FUNCTION_PORT"] = strconv.Itoa(port) // the host's network: 8082 may be taken
	env["CALIOPEN_STORE_DSN"] = "sqlite:///tmp/caliopen.db"
	env["CALIOPEN_BLOB_DIR"] = "/tmp/blobs"
	env["NATS_URL"] = nats.ClientURL()
	env["CALIOPEN_SECRETS_KEYS"] = keyLine
	env["CALIOPEN_INVOKE_KEY"] = invokeKey
	handler := exec.Command(env["fprocess"])
	handler.Dir = cfg.WorkingDir
	handler.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	for k, v := range env {
		handler.Env = append(handler.Env, k+"="+v)
	}
	var logs syncBuffer
	handler.Stdout, handler.Stderr = &logs, &logs
	if err := handler.Start(); err != nil {
		t.Fatalf("start %s in chroot %s: %v", env["fprocess"], rootfs, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = handler.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = handler.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = handler.Process.Kill()
			<-exited
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if err := waitPort(addr, exited, 30*time.Second); err != nil {
		_ = handler.Process.Kill()
		<-exited
		t.Fatalf("the handler in the image: %v (%v)\n%s", err, waitErr, logs.String())
	}

	order := []byte(`{"order":"contact_update","contact_id":"c-1","user_id":"nobody"}`)
	post := func(signed bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(order))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(contract.HTTPSubject, contract.SubjectContactAction)
		req.Header.Set(contract.HTTPCorrelationID, "image-test-1")
		if signed {
			keys, err := invokeauth.ParseKeys(invokeKey)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(invokeauth.Header, keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost,
				Function: function, Subject: contract.SubjectContactAction, CorrelationID: "image-test-1", Body: order}))
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST: %v\n%s", err, logs.String())
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get(contract.HeaderServiceErrorCode) + " " + strings.TrimSpace(string(body))
	}
	if status, answer := post(false); status != http.StatusUnauthorized {
		t.Errorf("unsigned order: %d %s, want 401", status, answer)
	}
	status, answer := post(true)
	t.Logf("signed contact_update for an unknown user, answered by the image's handler: %d %s", status, answer)
	if status < 400 || status >= 500 || status == http.StatusNotFound || !strings.Contains(answer, "unknown_user") {
		t.Errorf("signed order: %d %s, want the store's permanent 4xx unknown_user\n%s", status, answer, logs.String())
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// numericUser parses an image's USER uid:gid (the template's is numeric).
func numericUser(user string) (uint32, uint32, error) {
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid == 0 {
		return 0, 0, fmt.Errorf("image USER %q: want a numeric uid:gid, not root", user)
	}
	return uint32(uid), uint32(gid), nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPort waits until addr accepts connections, or the process exits.
func waitPort(addr string, exited <-chan struct{}, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listens on %s after %s", addr, within)
}

// lastLines keeps the end of a long output.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
