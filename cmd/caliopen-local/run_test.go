package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsusers"
)

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

// operatorConn connects to the local system's NATS at url as the
// operator, with the password its data directory holds.
func operatorConn(t *testing.T, url, data string) *nats.Conn {
	t.Helper()
	pw, err := natsusers.ReadPassword(data, natsusers.Operator)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.UserInfo(natsusers.Operator, pw), nats.CustomInboxPrefix(natsusers.InboxPrefixOf(natsusers.Operator)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestRun drives the whole local system as a user would: run() with free
// ports, then any NATS client. Every request/reply subject answers in the
// contract's shape, naming the problem.
func TestRun(t *testing.T) {
	data := t.TempDir()
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0", "-smtp-port", "0"},
			func(string) string { return "" }, &out, &logs)
	}()
	var natsURL, gatewayURL, adminURL string
	deadline := time.Now().Add(15 * time.Second)
	for natsURL == "" || adminURL == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no summary printed; output %q logs %q", out.String(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
		s := out.String()
		if m := regexp.MustCompile(`NATS \(JetStream\)\s+(\S+)`).FindStringSubmatch(s); m != nil {
			natsURL = m[1]
		}
		if m := regexp.MustCompile(`gateway\s+(http://\S+)`).FindStringSubmatch(s); m != nil {
			gatewayURL = m[1]
		}
		if m := regexp.MustCompile(`connector metrics\s+(http://\S+)/metrics`).FindStringSubmatch(s); m != nil {
			adminURL = m[1]
		}
	}
	for _, p := range []string{gatewayURL, adminURL, natsURL} {
		for _, busy := range []string{":4222", ":5432", ":8080"} {
			if strings.HasSuffix(p, busy) {
				t.Errorf("%s uses a standard port", p)
			}
		}
	}

	nc := operatorConn(t, natsURL, data)
	c := contract.Caliopen()
	served := map[string]bool{}
	for _, name := range fnsOf(t) {
		served[name] = true
	}
	for _, s := range c.Subjects {
		if !s.HasRequests() {
			continue
		}
		o := s.Orders[len(s.Orders)-1] // the request/reply order on every subject of the seed
		valid := `{"message_id":"m1","order":"` + o.Name + `","remote_id":"i1","user_id":"u1"}`
		// A valid order naming nothing that exists: the connector answers
		// no_function while no function serves the subject; once one does,
		// the function's own error (an unknown message or identity).
		unknown := contract.CodeNoFunction
		if served[s.Function] {
			unknown = "function's own"
		}
		cases := map[string]string{
			unknown:                   valid,
			contract.CodeInvalidJSON:  `{"order":`,
			contract.CodeMissingField: `{"order":"` + o.Name + `","remote_id":"i1","user_id":"u1"}`,
			contract.CodeUnknownOrder: `{"order":"nonsense","user_id":"u1"}`,
		}
		for code, body := range cases {
			start := time.Now()
			reply, err := nc.Request(s.Name, []byte(body), s.Deadline)
			if err != nil {
				t.Errorf("%s %s: no reply: %v", s.Name, code, err)
				continue
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("%s %s: reply took %s", s.Name, code, time.Since(start))
			}
			got := reply.Header.Get(connector.HeaderServiceErrorCode)
			switch {
			case code == "function's own" && (got == "" || got == contract.CodeNoFunction || got == contract.CodeFailed ||
				got == fnhttp.CodeUnauthorized):
				t.Errorf("%s: code %q, want the function's own error code", s.Name, got)
			case code != "function's own" && got != code:
				t.Errorf("%s: code %q, want %q", s.Name, got, code)
			}
			if failed, err := contract.CheckReply(s.Reply(), reply.Data); err != nil || !failed {
				t.Errorf("%s %s: reply %s is not an error of shape %s", s.Name, code, reply.Data, s.Reply())
			}
		}
	}

	// The gateway answers like OpenFaaS's, the connector is ready.
	var fns []map[string]any
	getJSON(t, gatewayURL+"/system/functions", &fns)
	if len(fns) != len(fnsOf(t)) {
		t.Errorf("gateway lists %d functions", len(fns))
	}
	if code := get(t, adminURL+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	if code := get(t, gatewayURL+"/healthz"); code != 200 {
		t.Errorf("gateway /healthz = %d", code)
	}
	// From outside only the REST API is invocable: the other functions are
	// refused whatever the spelling, and the order never reaches them (the
	// requests above did, through the connector).
	deliver := `{"order":"deliver","user_id":"u1","message_id":"m1","remote_id":"i1"}`
	for _, path := range []string{"/function/smtp-deliver", "/function/smtp-deliver.openfaas-fn", "/function/smtp-deliver/",
		"/function/identities-orders", "/function/%73mtp-deliver", "/function//smtp-deliver", "/function/./smtp-deliver",
		"/async-function/smtp-deliver"} {
		res, err := http.Post(gatewayURL+path, "application/json", strings.NewReader(deliver))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s from outside = %d %s, want 403", path, res.StatusCode, body)
		}
	}
	if code := get(t, gatewayURL+"/function/api/api/v2/me"); code != http.StatusUnauthorized {
		t.Errorf("GET /function/api/api/v2/me without a token = %d, want the API's own 401", code)
	}
	for _, part := range []string{filepath.Join("nats", "jetstream"), "caliopen.db", "blobs", "secrets.keys"} {
		if _, err := os.Stat(filepath.Join(data, part)); err != nil {
			t.Errorf("%s not under the data directory: %v", part, err)
		}
	}
	// The data is the user's alone.
	for part, want := range map[string]os.FileMode{".": 0o700, "caliopen.db": 0o600, "caliopen.db-wal": 0o600,
		"caliopen.db-shm": 0o600, "secrets.keys": 0o600, "nats-auth": 0o700, "nats-auth/operator": 0o600, "nats-auth/api": 0o600} {
		if fi, err := os.Stat(filepath.Join(data, part)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %o", part, fi.Mode().Perm(), err, want)
		}
	}
	// A second system on the same data directory stops at once, saying why.
	var out2 syncBuffer
	err := run(context.Background(), []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0", "-smtp-port", "0"},
		func(string) string { return "" }, &out2, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use by another local system") {
		t.Errorf("second system on the same data directory: %v, want a refusal", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop")
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("errors logged:\n%s", logs.String())
	}
}

func fnsOf(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range functions.All() {
		names = append(names, f.Name)
	}
	return names
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().String()[strings.LastIndex(ln.Addr().String(), ":")+1:]
	err = run(context.Background(), []string{"-data", t.TempDir(), "-nats-port", "0", "-gateway-port", port, "-admin-port", "0", "-smtp-port", "0"},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-gateway-port") {
		t.Errorf("run with a busy gateway port = %v, want an error naming -gateway-port", err)
	}
}

// TestHelp: -h prints the flags and succeeds (exit status 0).
func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, io.Discard, &stderr); err != nil {
		t.Errorf("run -h = %v, want success", err)
	}
	if !strings.Contains(stderr.String(), "-gateway-port") {
		t.Errorf("run -h printed %q, want the flags", stderr.String())
	}
}

// TestRestartQuickstart: a restart without CALIOPEN_ADMIN_PASSWORD finds
// the admin created by the first start and prints no command to create it.
func TestRestartQuickstart(t *testing.T) {
	data := t.TempDir()
	first := summaryOf(t, data, map[string]string{"CALIOPEN_ADMIN_PASSWORD": "admin-password-1", "API_BCRYPT_COST": "4"})
	fresh := summaryOf(t, t.TempDir(), nil)
	again := summaryOf(t, data, nil)
	for name, out := range map[string]string{"first start": first, "restart": again} {
		if !strings.Contains(out, `Quickstart (admin user "admin" exists)`) || strings.Contains(out, "create-user") {
			t.Errorf("%s: quickstart\n%s\nwant the existing admin and no command creating it", name, out)
		}
	}
	if !strings.Contains(fresh, "caliopen-admin create-user") {
		t.Errorf("a system without admin printed\n%s\nwant the command creating one", fresh)
	}
}

// summaryOf starts the system on data with env, and returns what it
// printed once started; it stops it.
func summaryOf(t *testing.T, data string, env map[string]string) string {
	t.Helper()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0", "-smtp-port", "0"},
			func(k string) string { return env[k] }, &out, io.Discard)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Ctrl-C"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("system did not start: %s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	return out.String()
}

// TestLogFunctionKey: the function's own lines and the connector's lines
// about it carry the same fn, the bare function name (the gateway's
// namespace goes under namespace), so one filter finds them all.
func TestLogFunctionKey(t *testing.T) {
	data := t.TempDir()
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0", "-smtp-port", "0"},
			func(string) string { return "" }, &out, &logs)
	}()
	natsRe := regexp.MustCompile(`NATS \(JetStream\)\s+(\S+)`)
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), "Ctrl-C"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("system did not start: %s", out.String())
		}
	}
	nc := operatorConn(t, natsRe.FindStringSubmatch(out.String())[1], data)
	// A deliver for a message that does not exist: smtp-deliver fails it,
	// the connector logs the failed request.
	if _, err := nc.Request(contract.SubjectOutboundSMTP, []byte(`{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	parts := map[string]bool{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, "smtp-deliver") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		fn, ok := rec["fn"]
		if !ok {
			continue
		}
		if fn != "smtp-deliver" {
			t.Errorf("fn = %q in %s, want smtp-deliver", fn, line)
		}
		part, _ := rec["part"].(string)
		parts[part] = true
		if part == "connector" && rec["namespace"] != "openfaas-fn" {
			t.Errorf("connector line %s lacks namespace openfaas-fn", line)
		}
	}
	if !parts["connector"] || !parts[""] {
		t.Errorf("lines with fn smtp-deliver from parts %v, want the connector's and the function's own\n%s", parts, logs.String())
	}
}
