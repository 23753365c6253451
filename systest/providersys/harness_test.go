package provider_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/provider/providertest"
	"github.com/caliopen/functions/system"
)

func TestMain(m *testing.M) {
	providertest.MaybeRun()
	os.Exit(m.Run())
}

const invokeKeySecret = "caliopen-invoke-key"

// harness is a provider behind the local gateway, as caliopen-local
// -isolation=process assembles them, on a test server.
type harness struct {
	p    *provider.Provider
	gw   *gateway.Gateway
	url  string
	keys *invokeauth.Keys
	reg  *prometheus.Registry
	dir  string // the fake's folder
	data string // the provider's data directory
}

// newHarness starts a provider running binary (the test binary itself for
// the fake when binary is ""), with the platform settings env.
func newHarness(t *testing.T, binary string, env map[string]string, idle time.Duration) *harness {
	t.Helper()
	return newHarnessServing(t, binary, env, idle, gateway.Config{}, nil)
}

// newHarnessServing is newHarness with the gateway's configuration given
// (its provider set here), served through public when set, as the local
// system serves gateway.Public.
func newHarnessServing(t *testing.T, binary string, env map[string]string, idle time.Duration, gwCfg gateway.Config,
	public []string) *harness {
	t.Helper()
	h := &harness{dir: t.TempDir(), data: filepath.Join(t.TempDir(), "provider"), reg: prometheus.NewRegistry()}
	if binary == "" {
		binary = os.Args[0]
	}
	var names []string
	for _, s := range functions.All() {
		names = append(names, s.Name)
	}
	logger := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	p, err := provider.New(provider.Config{
		Binary: binary, DataDir: h.data, Functions: names, Env: env,
		DropEnv:     system.ClusterEnv,
		IdleTimeout: idle, StopGrace: 10 * time.Second,
	}, h.reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	h.p = p
	key := rand.Text() + rand.Text()
	if h.keys, err = invokeauth.ParseKeys(key); err != nil {
		t.Fatal(err)
	}
	if err := p.PutSecret(invokeKeySecret, []byte(key)); err != nil {
		t.Fatal(err)
	}
	var fns []gateway.Function
	for _, n := range names {
		fns = append(fns, gateway.Function{Name: n, Handler: p.Function(n)})
	}
	gwCfg.Provider = p.Handlers()
	gw, err := gateway.New(gwCfg, fns, h.reg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h.gw = gw
	var served http.Handler = gw
	if public != nil {
		served = gw.Public(public...)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// deployFake deploys the fake as fn, signed calls only.
func (h *harness) deployFake(t *testing.T, fn string, min, max, inflight string) {
	t.Helper()
	env := providertest.Env(fn, h.dir)
	env[invokeauth.EnvKey+"_FILE"] = provider.SecretsMount + invokeKeySecret
	env[provider.EnvMaxInflight] = inflight
	d := types.FunctionDeployment{Service: fn, Image: "local/" + fn, EnvVars: env, Secrets: []string{invokeKeySecret},
		Labels: &map[string]string{provider.LabelScaleMin: min, provider.LabelScaleMax: max}}
	if code, body := h.do(t, http.MethodPost, "/system/functions", d); code != http.StatusAccepted {
		t.Fatalf("deploy %s = %d %s", fn, code, body)
	}
}

// invoke posts an order to fn through the gateway, signed as the connector
// signs it.
func (h *harness) invoke(ctx context.Context, fn, subject, order string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/function/"+fn, strings.NewReader(order))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Nats-Subject", subject)
	req.Header.Set(invokeauth.Header, h.keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost, Function: fn,
		Subject: subject, Body: []byte(order)}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// do sends a request of the provider API with a JSON body (none when nil).
func (h *harness) do(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// status reads a function's status through the provider API.
func (h *harness) status(t *testing.T, fn string) types.FunctionStatus {
	t.Helper()
	code, body := h.do(t, http.MethodGet, "/system/function/"+fn, nil)
	if code != http.StatusOK {
		t.Fatalf("GET /system/function/%s = %d %s", fn, code, body)
	}
	var st types.FunctionStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	providertest.WaitFor(t, what, cond)
}

// hold makes the fake's calls wait until release is called.
func (h *harness) hold(t *testing.T) (release func()) { return providertest.Hold(t, h.dir) }

// processed lists the ids the fake completed.
func (h *harness) processed(t *testing.T) []string { return providertest.Processed(t, h.dir) }

// functionBinary builds cmd/function once per test binary.
var functionBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "provider-test-function")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "function")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/function").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "build cmd/function: " + e.err.Error() + "\n" + e.out }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
