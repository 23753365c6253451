package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/natsembed"
)

func TestRunReportsEveryProblem(t *testing.T) {
	env := map[string]string{"SCHEDULER_TICK": "often", "SCHEDULER_BATCH": "0", "SCHEDULER_JITTER": "2"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"CALIOPEN_STORE_DSN", "SCHEDULER_TICK", "batch", "jitter"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
	if err := run(context.Background(), []string{"x"}, func(string) string { return "" }, &bytes.Buffer{}); err == nil {
		t.Error("arguments accepted")
	}
}

// TestRunServes starts the pod on embedded NATS and SQLite and checks its
// health and metrics endpoints.
func TestRunServes(t *testing.T) {
	dir := t.TempDir()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"CALIOPEN_STORE_DSN": "sqlite://" + filepath.Join(dir, "c.db"),
		"NATS_URL": ns.ClientURL(), "SCHEDULER_HTTP_ADDR": addr, "SCHEDULER_TICK": "50ms"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy: %v", err)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "caliopen_scheduler_ticks_total") {
		t.Errorf("metrics lack ticks: %.300s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
