package connector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(env(map[string]string{"CALIOPEN_INVOKE_INSECURE": "true"}))
	if err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if cfg.InvokeKeys != nil {
		t.Error("insecure mode loaded keys")
	}
	if _, err := LoadConfig(env(nil)); err == nil || !strings.Contains(err.Error(), "CALIOPEN_INVOKE_KEY") {
		t.Errorf("no invocation key: err = %v, want a refusal naming CALIOPEN_INVOKE_KEY", err)
	}
	if cfg.Mode != ModeGateway || cfg.MaxAttempts != 8 || cfg.StreamName != "CALIOPEN_ORDERS" {
		t.Errorf("defaults = %+v", cfg)
	}
	cfg, err = LoadConfig(env(map[string]string{
		"NATS_URL": "nats://a:4222,nats://b:4222", "CONNECTOR_MODE": "static", "TOPIC_MAP_FILE": "/etc/map.yaml",
		"MAX_INFLIGHT": "7", "BACKOFF_BASE": "250ms", "BACKOFF_MAX": "10s", "NATS_TOKEN": "s3cret", "LOG_LEVEL": "debug",
		"STREAM_REPLICAS":     "3",
		"CALIOPEN_INVOKE_KEY": strings.Repeat("k", 32),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != ModeStatic || cfg.MaxInflight != 7 || cfg.BackoffBase != 250*time.Millisecond || cfg.NATS.Token != "s3cret" || cfg.StreamReplicas != 3 ||
		cfg.InvokeKeys == nil {
		t.Errorf("parsed = %+v", cfg)
	}

	// Every problem is reported at once.
	_, err = LoadConfig(env(map[string]string{
		"CONNECTOR_MODE": "static", "MAX_INFLIGHT": "-1", "REBUILD_INTERVAL": "often", "NATS_USER": "u",
		"NATS_TOKEN": "t", "NATS_TLS_CERT_FILE": "c.pem", "BACKOFF_BASE": "1m", "BACKOFF_MAX": "1s",
		"STREAM_NAME": "a.b", "GATEWAY_BASIC_AUTH": "maybe", "LOG_LEVEL": "loud", "STREAM_REPLICAS": "7",
	}))
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"TOPIC_MAP_FILE", "MAX_INFLIGHT", "REBUILD_INTERVAL", "NATS_PASSWORD",
		"set only one of", "NATS_TLS_KEY_FILE", "BACKOFF_MAX", "STREAM_NAME", "GATEWAY_BASIC_AUTH", "LOG_LEVEL", "STREAM_REPLICAS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestParseStaticMap(t *testing.T) {
	t.Parallel()
	m, err := ParseStaticMap([]byte(`
- name: smtp-deliver
  url: http://smtp-deliver.caliopen.svc.cluster.local
  topics: [outboundSMTP]
- name: audit
  url: http://audit.example/hook
  topics: [outboundSMTP, contactAction]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := m["outboundSMTP"]; len(got) != 2 || got[0].Name != "audit" || got[1].URL != "http://smtp-deliver.caliopen.svc.cluster.local" {
		t.Errorf("outboundSMTP -> %v", got)
	}
	if m.Functions() != 2 || len(m["contactAction"]) != 1 {
		t.Errorf("map %v", m)
	}
	for _, bad := range []string{`- {name: x, topics: [a]}`, `- {name: x, url: "/relative", topics: [a]}`, `- {name: x, url: "http://h"}`, `{`} {
		if _, err := ParseStaticMap([]byte(bad)); err == nil {
			t.Errorf("ParseStaticMap(%q) accepted", bad)
		}
	}
}

// TestGatewaySourceKeepsLastGoodMap reads a real HTTP gateway listing with
// connector-sdk, then keeps the map while the gateway fails.
func TestGatewaySourceKeepsLastGoodMap(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/system/namespaces":
			io.WriteString(w, `["openfaas-fn"]`)
		case "/system/functions":
			io.WriteString(w, `[{"name":"smtp-deliver","namespace":"openfaas-fn","annotations":{"topic":"outboundSMTP"}},
				{"name":"key-action","namespace":"openfaas-fn","annotations":{"topic":"keyAction,contactAction"}},
				{"name":"plain","namespace":"openfaas-fn"}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer gw.Close()
	src, err := NewGatewaySource(gw.URL, false, "", gw.Client())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r := NewRouter(src, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(reg))
	if r.Synced() {
		t.Fatal("synced before loading")
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"outboundSMTP": "smtp-deliver.openfaas-fn", "keyAction": "key-action.openfaas-fn", "contactAction": "key-action.openfaas-fn"}
	for subject, fn := range want {
		got := r.Match(subject)
		if len(got) != 1 || got[0].Name != fn || got[0].URL != gw.URL+"/function/"+fn {
			t.Errorf("Match(%s) = %v, want %s", subject, got, fn)
		}
	}
	failing.Store(true)
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("refresh against a failing gateway succeeded")
	}
	if got := r.Match("outboundSMTP"); len(got) != 1 {
		t.Errorf("map lost after a failed refresh: %v", got)
	}
	if n := counterValue(t, reg, "caliopen_connector_topic_map_refresh_errors_total"); n != 1 {
		t.Errorf("refresh errors = %v", n)
	}
}

func TestBasicAuthFilesMissing(t *testing.T) {
	t.Parallel()
	_, err := NewGatewaySource("http://gw:8080", true, t.TempDir(), http.DefaultClient)
	if err == nil || !strings.Contains(err.Error(), "basic auth") {
		t.Errorf("missing secret files: %v", err)
	}
	if errors.Unwrap(err) == nil {
		t.Error("the cause is not wrapped")
	}
}
