package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/secrets"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunRejectsUnregisteredFunction(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), nil, env(map[string]string{"FUNCTION": "no-such-function"}), &out)
	if err == nil {
		t.Fatal("run() = nil, want an error for an unregistered function")
	}
	for _, want := range []string{
		`FUNCTION="no-such-function" is not a registered function`,
		"registered: " + names(functions.All()),
		"the contract names: contact-action, identities-orders",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run() = %q, want it to contain %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing before the configuration is valid", out.String())
	}
}

func TestLoadConfigReportsEverything(t *testing.T) {
	err := run(context.Background(), []string{"--verbose"},
		env(map[string]string{"exec_timeout": "soon", "FUNCTION_PORT": "http", "FUNCTION_MAX_BODY_BYTES": "lots"}), io.Discard)
	if err == nil {
		t.Fatal("run() = nil, want an error")
	}
	for _, want := range []string{"unexpected arguments", "FUNCTION is required", "exec_timeout", "FUNCTION_MAX_BODY_BYTES", `FUNCTION_PORT="http"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("run() = %q, want it to contain %q", err, want)
		}
	}
}

func TestLoadConfigAddress(t *testing.T) {
	specs := []functions.Spec{{Name: "contact-action"}}
	tests := []struct {
		port, host, want string
	}{
		{"", "", ":8082"},
		{"8090", "", ":8090"},
		{"0", "", ":0"},
		{"0", "127.0.0.2", "127.0.0.2:0"},
		{"8090", "::1", "[::1]:8090"},
	}
	for _, tt := range tests {
		e := map[string]string{"FUNCTION": "contact-action", "FUNCTION_PORT": tt.port, "FUNCTION_HOST": tt.host, "CALIOPEN_STORE_DSN": "sqlite:///tmp/x.db",
			"CALIOPEN_BLOB_DIR": "/tmp/blobs", "CALIOPEN_SECRETS_KEYS": "k1:" + strings.Repeat("A", 43) + "=", "CALIOPEN_INVOKE_KEY": testInvokeKey}
		cfg, err := loadConfig(nil, env(e), contract.Caliopen(), specs)
		if err != nil || cfg.addr != tt.want {
			t.Errorf("loadConfig(FUNCTION_PORT=%q FUNCTION_HOST=%q) = %q, %v; want %q", tt.port, tt.host, cfg.addr, err, tt.want)
		}
	}
}

// lineWriter collects stdout and signals the first "listening" line.
type lineWriter struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	listening chan string // receives the address once
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var m struct{ Msg, Addr string }
	if json.Unmarshal(p, &m) == nil && m.Msg == "listening" && w.listening != nil {
		w.listening <- m.Addr
		w.listening = nil
	}
	return w.buf.Write(p)
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestServeFunctionUntilSIGTERM(t *testing.T) {
	spec := functions.Spec{
		Name: "contact-action",
		Build: func(e functions.Env) (fnhttp.Core, error) {
			if e.Contract == nil || e.Logger == nil || e.Store == nil || e.Blobs == nil || e.Emitter == nil || e.Keyring == nil ||
				e.Getenv("FUNCTION") != "contact-action" {
				return nil, errors.New("incomplete env")
			}
			return func(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
				return fnhttp.Result{Message: "updated"}, nil
			}, nil
		},
	}
	listening := make(chan string, 1)
	out := &lineWriter{listening: listening}
	done := make(chan error, 1)
	go func() {
		done <- serve(context.Background(), nil, env(platformEnv(t, map[string]string{"FUNCTION": "contact-action", "FUNCTION_PORT": "0"})),
			out, []functions.Spec{spec})
	}()
	var addr string
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("serve() = %v before listening", err)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listening addr %q: %v", addr, err)
	}
	order := `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`
	resp, err := http.Post("http://127.0.0.1:"+port+"/", "application/json", strings.NewReader(order))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST = %d, want 401", resp.StatusCode)
	}
	keys, err := invokeauth.ParseKeys(testInvokeKey)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/", strings.NewReader(order))
	req.Header.Set(invokeauth.Header, keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost,
		Function: "contact-action", Body: []byte(order)}))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"ok":true,"message":"updated"}` {
		t.Errorf("POST = %d %s, want 200 {ok:true}", resp.StatusCode, body)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("serve() = %v after SIGTERM, want nil", err)
	}
	if logs := out.String(); !strings.Contains(logs, `"msg":"invocation"`) || !strings.Contains(logs, `"fn":"contact-action"`) {
		t.Errorf("stdout = %s, want the invocation's JSON log line", logs)
	}
}

func TestServeBuildError(t *testing.T) {
	spec := functions.Spec{Name: "key-action", Build: func(functions.Env) (fnhttp.Core, error) {
		return nil, errors.New("no store configured")
	}}
	err := serve(context.Background(), nil, env(platformEnv(t, map[string]string{"FUNCTION": "key-action"})), io.Discard, []functions.Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "build function key-action: no store configured") {
		t.Errorf("serve() = %v, want the build error", err)
	}
}

// platformEnv adds what the function needs to open its dependencies: a
// SQLite store and a blob directory in a temporary directory, an embedded
// NATS server and a keyring.
func platformEnv(t *testing.T, m map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	srv, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	key, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		t.Fatal(err)
	}
	m["CALIOPEN_STORE_DSN"] = "sqlite://" + filepath.Join(dir, "caliopen.db")
	m["CALIOPEN_BLOB_DIR"] = filepath.Join(dir, "blobs")
	m["NATS_URL"] = srv.ClientURL()
	m["CALIOPEN_SECRETS_KEYS"] = key
	m["CALIOPEN_INVOKE_KEY"] = testInvokeKey
	return m
}

// testInvokeKey is the invocation key of the functions served by the tests.
const testInvokeKey = "test-invocation-key-0123456789abcdef"

func TestLoadConfigNamesPlatformProblems(t *testing.T) {
	err := run(context.Background(), nil, env(map[string]string{"FUNCTION": "contact-action", "CALIOPEN_BLOB_BACKEND": "tape"}), io.Discard)
	for _, want := range []string{"CALIOPEN_STORE_DSN", "CALIOPEN_BLOB_BACKEND", "CALIOPEN_SECRETS_KEYS", "CALIOPEN_INVOKE_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run() = %v, want it to name %s", err, want)
		}
	}
}
