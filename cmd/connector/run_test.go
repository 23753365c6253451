package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/natsembed"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := run(context.Background(), func(k string) string {
		return map[string]string{"CONNECTOR_MODE": "carrier-pigeon", "MAX_ATTEMPTS": "zero"}[k]
	}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "CONNECTOR_MODE") || !strings.Contains(err.Error(), "MAX_ATTEMPTS") {
		t.Errorf("run = %v, want both problems named", err)
	}
}

// TestRunStaticMode runs the pod's wiring against an embedded NATS with a
// static topic map, answers a request, and stops on cancel.
func TestRunStaticMode(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	mapFile := filepath.Join(t.TempDir(), "map.yaml")
	os.WriteFile(mapFile, []byte("- name: smtp-deliver\n  url: http://127.0.0.1:1/unreachable\n  topics: [outboundSMTP]\n"), 0o600)
	env := map[string]string{
		"NATS_URL": srv.ClientURL(), "CONNECTOR_MODE": "static", "TOPIC_MAP_FILE": mapFile, "HTTP_ADDR": "127.0.0.1:0",
		"CALIOPEN_INVOKE_KEY": "0123456789abcdef0123456789abcdef",
	}
	var out lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return env[k] }, &out) }()

	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), `"msg":"connector started"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("connector did not start: %s", out.String())
		}
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reply, err := nc.Request("outboundSMTP", []byte(`{"message_id":"m","order":"deliver","remote_id":"i","user_id":"u"}`), 3*time.Second)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	if code := reply.Header.Get("Nats-Service-Error-Code"); code != "function_error" {
		t.Errorf("unreachable function: code %q, reply %s", code, reply.Data)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
