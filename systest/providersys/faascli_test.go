package provider_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openfaas/faas-provider/logs"
	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/internal/provider"
)

// TestProviderAPI drives the provider API's edges that faas-cli does not
// show (TestFaasCLIVerbs runs faas-cli itself): a deployment refused,
// conflicts and unknown names, secrets' files and mounts, logs' queries,
// what remains after a remove; the replicas are the real cmd/function on
// the local platform.
func TestProviderAPI(t *testing.T) {
	bin, err := functionBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, bin, localPlatform(t), time.Minute)
	d := types.FunctionDeployment{Service: "smtp-deliver", Image: "ghcr.io/caliopen/smtp-deliver:dev", Secrets: []string{invokeKeySecret, "caliopen-nats-smtp-deliver"},
		EnvVars: map[string]string{"FUNCTION": "smtp-deliver", "CALIOPEN_INVOKE_KEY_FILE": provider.SecretsMount + invokeKeySecret,
			"SMTP_DELIVER_RELAY_PASSWORD_FILE": provider.SecretsMount + "caliopen-nats-smtp-deliver"},
		Labels: &map[string]string{provider.LabelScaleMin: "1", provider.LabelScaleMax: "2"}}
	if code, body := h.do(t, http.MethodPut, "/system/functions", d); code != http.StatusNotFound {
		t.Errorf("update of a function not deployed = %d %s, want 404", code, body)
	}
	if code, body := h.do(t, http.MethodPost, "/system/functions", d); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}

	// An image that names no function of the module is refused, saying so.
	bad := types.FunctionDeployment{Service: "figlet", Image: "ghcr.io/openfaas/figlet:latest"}
	if code, body := h.do(t, http.MethodPost, "/system/functions", bad); code != http.StatusBadRequest || !strings.Contains(body, "names no function of this module") {
		t.Errorf("deploy figlet = %d %s, want 400 naming the problem", code, body)
	}

	preload := types.FunctionDeployment{Service: "smtp-deliver", Image: "local/smtp-deliver", EnvVars: map[string]string{"LD_PRELOAD": "/tmp/x.so"}}
	if code, body := h.do(t, http.MethodPut, "/system/functions", preload); code != http.StatusBadRequest || !strings.Contains(body, "LD_PRELOAD") {
		t.Errorf("deploy with LD_PRELOAD = %d %s, want 400 naming it", code, body)
	}

	waitFor(t, "smtp-deliver at its minimum", func() bool { return h.status(t, "smtp-deliver").AvailableReplicas == 1 })

	// Scaled to 2; describe shows both.
	if code, body := h.do(t, http.MethodPost, "/system/scale-function/smtp-deliver",
		types.ScaleServiceRequest{ServiceName: "smtp-deliver", Replicas: 2}); code != http.StatusAccepted {
		t.Fatalf("scale = %d %s", code, body)
	}
	waitFor(t, "2 replicas", func() bool { return h.status(t, "smtp-deliver").AvailableReplicas == 2 })
	if code, _ := h.do(t, http.MethodPost, "/system/scale-function/nope", types.ScaleServiceRequest{ServiceName: "nope", Replicas: 1}); code != http.StatusNotFound {
		t.Errorf("scale of an unknown function = %d, want 404", code)
	}

	// Secrets: create, list, update, remove.
	secret := types.Secret{Name: "caliopen-nats-smtp-deliver", Value: "s3cret"}
	for _, c := range []struct {
		method string
		body   types.Secret
		want   int
	}{
		{http.MethodPost, secret, http.StatusCreated},
		{http.MethodPost, secret, http.StatusConflict},
		{http.MethodPut, types.Secret{Name: secret.Name, RawValue: []byte("n3w")}, http.StatusAccepted},
		{http.MethodPut, types.Secret{Name: "missing", Value: "x"}, http.StatusNotFound},
		{http.MethodPost, types.Secret{Name: "../escape", Value: "x"}, http.StatusBadRequest},
	} {
		if code, body := h.do(t, c.method, "/system/secrets", c.body); code != c.want {
			t.Errorf("%s secret %s = %d %s, want %d", c.method, c.body.Name, code, body, c.want)
		}
	}
	code, body := h.do(t, http.MethodGet, "/system/secrets?namespace=openfaas-fn", nil)
	var listed []types.Secret
	if code != http.StatusOK || json.Unmarshal([]byte(body), &listed) != nil ||
		!slices.ContainsFunc(listed, func(s types.Secret) bool { return s.Name == secret.Name && s.Value == "" }) {
		t.Errorf("secret list = %d %s, want %s without its value", code, body, secret.Name)
	}
	file := filepath.Join(h.data, "secrets", secret.Name)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file %s: %v, mode %v, want 0600", file, err, fi.Mode())
	}
	// smtp-deliver names the secret: it reads it where the stack's
	// settings point, /var/openfaas/secrets/ made its own folder.
	if b, err := os.ReadFile(filepath.Join(h.data, "mounts", "smtp-deliver", secret.Name)); err != nil || string(b) != "n3w" {
		t.Errorf("mounted secret = %q, %v; want the updated value", b, err)
	}
	if code, _ := h.do(t, http.MethodDelete, "/system/secrets", types.Secret{Name: secret.Name}); code != http.StatusAccepted {
		t.Errorf("secret remove = %d, want 202", code)
	}
	if code, _ := h.do(t, http.MethodDelete, "/system/secrets", types.Secret{Name: secret.Name}); code != http.StatusNotFound {
		t.Errorf("second secret remove = %d, want 404", code)
	}

	// Logs: the last line, since a time to come, following.
	lines := h.logLines(t, url.Values{"name": {"smtp-deliver"}, "namespace": {"openfaas-fn"}, "follow": {"false"}, "tail": {"1"}})
	if len(lines) != 1 || lines[0].Name != "smtp-deliver" || !json.Valid([]byte(lines[0].Text)) {
		t.Errorf("logs --tail 1 = %+v, want one JSON line of smtp-deliver", lines)
	}
	since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if lines := h.logLines(t, url.Values{"name": {"smtp-deliver"}, "follow": {"false"}, "since": {since}}); len(lines) != 0 {
		t.Errorf("logs --since the future = %d lines, want 0", len(lines))
	}
	h.followLogs(t)

	// Remove.
	if code, body := h.do(t, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "smtp-deliver"}); code != http.StatusAccepted {
		t.Fatalf("remove = %d %s", code, body)
	}
	if code, _ := h.do(t, http.MethodGet, "/system/function/smtp-deliver", nil); code != http.StatusNotFound {
		t.Errorf("describe after remove = %d, want 404", code)
	}
	if code, _, _ := h.invoke(context.Background(), "smtp-deliver", "outboundSMTP", deliverOrder("m1")); code != http.StatusNotFound {
		t.Errorf("invoke after remove = %d, want 404", code)
	}
	if code, _ := h.do(t, http.MethodDelete, "/system/functions", types.DeleteFunctionRequest{FunctionName: "smtp-deliver"}); code != http.StatusNotFound {
		t.Errorf("second remove = %d, want 404", code)
	}
	if in := h.p.Instances("smtp-deliver"); len(in) != 0 {
		t.Errorf("instances after remove = %+v", in)
	}
}

// logLines reads /system/logs with query q to its end.
func (h *harness) logLines(t *testing.T, q url.Values) []logs.Message {
	t.Helper()
	code, body := h.do(t, http.MethodGet, "/system/logs?"+q.Encode(), nil)
	if code != http.StatusOK {
		t.Fatalf("logs %s = %d %s", q.Encode(), code, body)
	}
	var out []logs.Message
	for line := range strings.Lines(body) {
		var m logs.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// followLogs follows smtp-deliver's log from now, invokes it, and sees the
// invocation's line arrive.
func (h *harness) followLogs(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	since := time.Now().UTC().Format(time.RFC3339)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/system/logs?"+
		url.Values{"name": {"smtp-deliver"}, "follow": {"true"}, "since": {since}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if code, body, err := h.invoke(ctx, "smtp-deliver", "outboundSMTP", deliverOrder("00000000-0000-4000-8000-00000000f011")); err != nil || code != http.StatusUnprocessableEntity {
		t.Fatalf("invoke = %d %s %v", code, body, err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m logs.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("followed line %q: %v", sc.Text(), err)
		}
		if strings.Contains(m.Text, `"msg":"invocation"`) && strings.Contains(m.Text, "00000000-0000-4000-8000-00000000f011") {
			return
		}
	}
	t.Fatalf("follow ended without the invocation's line: %v", sc.Err())
}
