package provider_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/provider/providertest"
	"github.com/caliopen/functions/internal/secrets"
)

// deliverOrder is a deliver order for message id.
func deliverOrder(id string) string {
	return fmt.Sprintf(`{"order":"deliver","message_id":%q,"remote_id":"00000000-0000-4000-8000-000000000003","user_id":"00000000-0000-4000-8000-000000000002"}`, id)
}

// localPlatform starts an embedded NATS and returns the platform settings
// of the local system over dir: SQLite, a blob folder, a keyring.
func localPlatform(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	key, err := secrets.NewKeyLine(nil, "k1")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"CALIOPEN_STORE_DSN": "sqlite://" + filepath.Join(dir, "caliopen.db"), "CALIOPEN_BLOB_BACKEND": "dir",
		"CALIOPEN_BLOB_DIR": filepath.Join(dir, "blobs"), "NATS_URL": ns.ClientURL(), "CALIOPEN_SECRETS_KEYS": key,
	}
}

// TestZeroAnswered: smtp-deliver, the real cmd/function, deployed at zero
// replicas; the first signed call starts a replica and gets the function's
// own answer (422: the store has no such draft); one cold start is counted.
func TestZeroAnswered(t *testing.T) {
	bin, err := functionBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, bin, localPlatform(t), time.Minute)
	d := map[string]any{"service": "smtp-deliver", "image": "ghcr.io/caliopen/smtp-deliver:dev", "secrets": []string{invokeKeySecret},
		"envVars": map[string]string{"FUNCTION": "smtp-deliver", "CALIOPEN_INVOKE_KEY_FILE": "/var/openfaas/secrets/" + invokeKeySecret},
		"labels":  map[string]string{"com.openfaas.scale.min": "0", "com.openfaas.scale.max": "2"}}
	if code, body := h.do(t, http.MethodPost, "/system/functions", d); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}
	if st := h.status(t, "smtp-deliver"); st.Replicas != 0 {
		t.Fatalf("replicas after deploy at min 0 = %d, want 0", st.Replicas)
	}
	code, body, err := h.invoke(context.Background(), "smtp-deliver", "outboundSMTP", deliverOrder("00000000-0000-4000-8000-000000000001"))
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "has no message") {
		t.Errorf("first call = %d %s, want 422 from the function saying the store has no such message", code, body)
	}
	if st := h.status(t, "smtp-deliver"); st.Replicas != 1 || st.AvailableReplicas != 1 {
		t.Errorf("replicas after the first call = %d (%d available), want 1", st.Replicas, st.AvailableReplicas)
	}
	if n := metric(t, h, "caliopen_provider_cold_starts_total", "smtp-deliver.openfaas-fn"); n != 1 {
		t.Errorf("cold starts = %v, want 1", n)
	}
	// An unsigned call never reaches the core.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/function/smtp-deliver", strings.NewReader(deliverOrder("x")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned call = %d, want 401", resp.StatusCode)
	}
}

// TestScaleUpAndToZero: calls held in the fake pile up; replicas are added
// while every replica holds its max_inflight, up to scale.max and no more;
// once released and idle they are stopped down to zero.
func TestScaleUpAndToZero(t *testing.T) {
	h := newHarness(t, "", nil, 200*time.Millisecond)
	h.deployFake(t, "contact-action", "0", "3", "2")
	release := h.hold(t)
	const calls = 8 // more than 3 replicas × 2 hold
	var wg sync.WaitGroup
	codes := make(chan int, calls)
	for i := range calls {
		wg.Go(func() {
			order := fmt.Sprintf(`{"order":"contact_update","contact_id":"c%d","user_id":"u1"}`, i)
			code, body, err := h.invoke(context.Background(), "contact-action", "contactAction", order)
			if err != nil {
				t.Error(err)
			}
			if code != http.StatusOK {
				t.Errorf("call %d = %d %s", i, code, body)
			}
			codes <- code
		})
	}
	waitFor(t, "3 replicas ready", func() bool { st := h.status(t, "contact-action"); return st.AvailableReplicas == 3 })
	waitFor(t, "6 calls held", func() bool {
		n := 0
		for _, in := range h.p.Instances("contact-action") {
			n += in.InFlight
		}
		return n == 6
	})
	if st := h.status(t, "contact-action"); st.Replicas != 3 {
		t.Errorf("replicas under load = %d, want the maximum 3", st.Replicas)
	}
	release()
	wg.Wait()
	if got := len(h.processed(t)); got != calls {
		t.Errorf("processed %d calls, want %d", got, calls)
	}
	waitFor(t, "zero replicas when idle", func() bool { return h.status(t, "contact-action").Replicas == 0 })
	if n := metric(t, h, "gateway_service_count", "contact-action.openfaas-fn"); n != 0 {
		t.Errorf("gateway_service_count = %v when idle, want 0", n)
	}
	if n := metric(t, h, "caliopen_provider_cold_starts_total", "contact-action.openfaas-fn"); n != 3 {
		t.Errorf("cold starts = %v, want 3", n)
	}
}

// TestKilledReplica: SIGKILL to a replica holding a call gives that call an
// error answer (502); the replica is replaced and the next calls succeed.
func TestKilledReplica(t *testing.T) {
	h := newHarness(t, "", nil, time.Minute)
	h.deployFake(t, "smtp-deliver", "1", "1", "4")
	waitFor(t, "a ready replica", func() bool { return h.status(t, "smtp-deliver").AvailableReplicas == 1 })
	release := h.hold(t)
	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		code, body, err := h.invoke(context.Background(), "smtp-deliver", "outboundSMTP", deliverOrder("m-killed"))
		if err != nil {
			t.Error(err)
		}
		done <- answer{code, body}
	}()
	var pid int
	waitFor(t, "the call held", func() bool {
		in := h.p.Instances("smtp-deliver")
		if len(in) == 1 && in[0].InFlight == 1 {
			pid = in[0].PID
		}
		return pid != 0
	})
	// The call is in the replica's core, not merely queued in the gateway.
	waitFor(t, "the fake holding", func() bool { return strings.Contains(h.logs(t, "smtp-deliver"), `\"msg\":\"holding\"`) })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a := <-done
	if a.code != http.StatusBadGateway {
		t.Errorf("call on the killed replica = %d %s, want 502", a.code, a.body)
	}
	release()
	for i := range 3 {
		code, body, err := h.invoke(context.Background(), "smtp-deliver", "outboundSMTP", deliverOrder(fmt.Sprintf("m%d", i)))
		if err != nil || code != http.StatusOK {
			t.Errorf("call %d after the kill = %d %s %v, want 200", i, code, body, err)
		}
	}
	if in := h.p.Instances("smtp-deliver"); len(in) != 1 || in[0].PID == pid {
		t.Errorf("instances after the kill = %+v, want one replacement", in)
	}
	if n := metric(t, h, "caliopen_provider_replica_deaths_total", "smtp-deliver.openfaas-fn"); n != 1 {
		t.Errorf("replica deaths = %v, want 1", n)
	}
	if got := h.processed(t); strings.Join(got, ",") != "m0,m1,m2" {
		t.Errorf("processed %v, want m0..m2 and not the killed call", got)
	}
}

// logs reads a function's log through the provider API.
func (h *harness) logs(t *testing.T, fn string) string {
	t.Helper()
	code, body := h.do(t, http.MethodGet, "/system/logs?name="+fn+"&follow=false", nil)
	if code != http.StatusOK {
		t.Fatalf("logs = %d %s", code, body)
	}
	return body
}

// metric is the value of the counter or gauge name{function_name=fn} in
// the harness's registry, 0 when absent.
func metric(t *testing.T, h *harness, name, fn string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "function_name" && l.GetValue() == fn {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// TestFailedStart: a function whose replica exits before it listens (here
// the fake without its invocation key) answers 503 naming why, without
// waiting for the call's deadline.
func TestFailedStart(t *testing.T) {
	h := newHarness(t, "", nil, time.Minute)
	d := map[string]any{"service": "contact-action", "image": "local/contact-action",
		"envVars": providertest.Env("contact-action", h.dir),
		"labels":  map[string]string{"com.openfaas.scale.min": "0", "com.openfaas.scale.max": "1"}}
	if code, body := h.do(t, http.MethodPost, "/system/functions", d); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	code, body, err := h.invoke(ctx, "contact-action", "contactAction", `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "failed to start") || !strings.Contains(body, "CALIOPEN_INVOKE_KEY") {
		t.Errorf("call = %d %s, want 503 saying the start failed and why", code, body)
	}
	if st := h.status(t, "contact-action"); st.Replicas != 0 {
		t.Errorf("replicas = %d, want 0", st.Replicas)
	}
}

// TestWaitEndsAtDeadline: at its maximum, every replica's slot held, a call
// waits for a slot until the deadline it states, then gets 504.
func TestWaitEndsAtDeadline(t *testing.T) {
	h := newHarness(t, "", nil, time.Minute)
	h.deployFake(t, "contact-action", "1", "1", "1")
	h.hold(t)
	go h.invoke(context.Background(), "contact-action", "contactAction", `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`)
	waitFor(t, "the slot held", func() bool {
		in := h.p.Instances("contact-action")
		return len(in) == 1 && in[0].InFlight == 1
	})
	order := `{"order":"contact_update","contact_id":"c2","user_id":"u1"}`
	req, _ := http.NewRequest(http.MethodPost, h.url+"/function/contact-action", strings.NewReader(order))
	req.Header.Set("X-Caliopen-Deadline", time.Now().Add(200*time.Millisecond).Format(time.RFC3339Nano))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("call past its deadline = %d, want 504", resp.StatusCode)
	}
}

// TestDeploymentsOutliveTheProvider: what the provider API deployed and
// removed is what a later run on the same data directory reads back; a
// redeploy clears a removal; a damaged file is named, not restored.
func TestDeploymentsOutliveTheProvider(t *testing.T) {
	h := newHarness(t, "", nil, time.Minute)
	h.deployFake(t, "smtp-deliver", "0", "3", "2")
	h.deployFake(t, "imap-worker", "0", "1", "1")
	if code, body := h.do(t, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "imap-worker"}); code != http.StatusAccepted {
		t.Fatalf("remove = %d %s", code, body)
	}

	later, err := provider.New(provider.Config{Binary: os.Args[0], DataDir: h.data, Functions: []string{"smtp-deliver", "imap-worker"}},
		nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { later.Close() })
	saved, err := later.Saved()
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Deployments) != 1 || saved.Deployments[0].Service != "smtp-deliver" ||
		saved.Deployments[0].Labels == nil || (*saved.Deployments[0].Labels)[provider.LabelScaleMax] != "3" {
		t.Errorf("saved deployments = %+v, want smtp-deliver with its labels", saved.Deployments)
	}
	if !slices.Equal(saved.Removed, []string{"imap-worker"}) || len(saved.Unreadable) != 0 {
		t.Errorf("removed %v, unreadable %v; want [imap-worker] and none", saved.Removed, saved.Unreadable)
	}

	h.deployFake(t, "imap-worker", "0", "1", "1")
	if err := os.WriteFile(filepath.Join(h.data, "deployments", "broken.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if saved, err = later.Saved(); err != nil {
		t.Fatal(err)
	}
	if len(saved.Deployments) != 2 || len(saved.Removed) != 0 || len(saved.Unreadable) != 1 ||
		!strings.HasPrefix(saved.Unreadable[0], "broken.json: ") {
		t.Errorf("after a redeploy and a damaged file: %d deployments, removed %v, unreadable %v; want 2, none, broken.json",
			len(saved.Deployments), saved.Removed, saved.Unreadable)
	}
}
