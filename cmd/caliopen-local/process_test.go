package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/connector"
)

// TestRunProcessIsolation runs the local system with -isolation=process:
// an order on outboundSMTP starts smtp-deliver's first replica, a process
// of cmd/function, which checks the connector's signature and answers with
// its own error; the gateway reports the replica; once the system stops,
// the replica's process is gone.
func TestRunProcessIsolation(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "function")
	if out, err := exec.Command("go", "build", "-o", bin, "../function").CombinedOutput(); err != nil {
		t.Fatalf("build cmd/function: %v\n%s", err, out)
	}
	data := t.TempDir()
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0",
			"-smtp-port", "0", "-isolation", "process", "-function-bin", bin}, func(string) string { return "" }, &out, &logs)
	}()
	var natsURL, gatewayURL string
	deadline := time.Now().Add(time.Minute)
	for natsURL == "" || gatewayURL == "" || !regexp.MustCompile(`connector metrics`).MatchString(out.String()) {
		select {
		case err := <-done:
			t.Fatalf("run() = %v; logs %s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no summary printed; output %q logs %q", out.String(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
		if m := regexp.MustCompile(`NATS \(JetStream\)\s+(\S+)`).FindStringSubmatch(out.String()); m != nil {
			natsURL = m[1]
		}
		if m := regexp.MustCompile(`gateway\s+(http://\S+)`).FindStringSubmatch(out.String()); m != nil {
			gatewayURL = m[1]
		}
	}
	// The provider API takes the credentials in the data directory.
	if code := get(t, gatewayURL+"/system/functions"); code != http.StatusUnauthorized {
		t.Errorf("GET /system/functions without credentials = %d, want 401", code)
	}
	status := func() types.FunctionStatus {
		req, _ := http.NewRequest(http.MethodGet, gatewayURL+"/system/function/smtp-deliver", nil)
		pw, err := os.ReadFile(filepath.Join(data, "provider", "auth", "basic-auth-password"))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", string(pw))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st types.FunctionStatus
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("describe smtp-deliver = %d, %v", resp.StatusCode, err)
		}
		return st
	}
	st := status()
	if st.Replicas != 0 {
		t.Errorf("smtp-deliver replicas at start = %d, want 0", st.Replicas)
	}

	nc := operatorConn(t, natsURL, data)
	reply, err := nc.Request("outboundSMTP", []byte(`{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code := reply.Header.Get(connector.HeaderServiceErrorCode); code != "unknown_message" {
		t.Errorf("deliver of an unknown message: code %q (%s), want the function's unknown_message", code, reply.Data)
	}
	st = status()
	if st.Replicas != 1 || st.AvailableReplicas != 1 {
		t.Errorf("smtp-deliver replicas after an order = %d (%d available), want 1", st.Replicas, st.AvailableReplicas)
	}
	var pid int
	for _, m := range regexp.MustCompile(`\{[^\n]*"msg":"replica ready"[^\n]*\}`).FindAllString(logs.String(), -1) {
		var l struct {
			Fn  string `json:"fn"`
			PID int    `json:"pid"`
		}
		if json.Unmarshal([]byte(m), &l) == nil && l.Fn == "smtp-deliver" {
			pid = l.PID
		}
	}
	if pid == 0 {
		t.Fatalf("no replica ready line for smtp-deliver in the logs")
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run() = %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("replica process %s after the system stopped: kill(0) = %v, want no such process", strconv.Itoa(pid), err)
	}
}
