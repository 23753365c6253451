package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/secretenv/secretenvtest"
	"github.com/caliopen/functions/internal/secrets"
)

// secretsDir is where OpenFaaS, and the Knative Services that faas-cli
// generates, mount a function's secrets.
const secretsDir = "/var/openfaas/secrets/"

// TestStackSecretLayouts starts smtp-deliver from the registry with its
// stack.yml environment, its secrets mounted as OpenFaaS mounts them (one
// file each) and as a Kubernetes secret volume mounts them on Knative (one
// folder each), and serves a deliver order in both. The stack names
// caliopen-relay-password's file but does not mount it: with no relay the
// function starts without it. Only the platform's endpoints differ from the
// stack: an embedded NATS requiring the stack's user and password, SQLite
// and a blob folder instead of PostgreSQL and S3.
func TestStackSecretLayouts(t *testing.T) {
	const name = "smtp-deliver"
	root := filepath.Join("..", "..")
	s, err := deploy.ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	entry, ok := s.Functions[name]
	if !ok {
		t.Fatalf("stack.yml has no %s", name)
	}
	for _, layout := range []string{"openfaas", "knative"} {
		t.Run(layout, func(t *testing.T) {
			dir := t.TempDir()
			mount := filepath.Join(dir, "secrets")
			key, err := secrets.NewKeyLine(nil, "k1")
			if err != nil {
				t.Fatal(err)
			}
			values := map[string]string{
				"caliopen-store-dsn":     "sqlite://" + filepath.Join(dir, "caliopen.db"),
				"caliopen-nats-" + name:  "nats-s3cret",
				"caliopen-s3-secret-key": "unused",
				"caliopen-keys":          key,
				"caliopen-invoke-key":    strings.Repeat("k", 64),
			}
			for _, secret := range entry.Secrets {
				v, ok := values[secret]
				if !ok {
					t.Fatalf("stack.yml mounts %s, which this test does not know", secret)
				}
				if layout == "knative" {
					secretenvtest.Volume(t, mount, secret, map[string]string{secret: v + "\n"})
				} else if err := os.MkdirAll(mount, 0o755); err != nil || os.WriteFile(filepath.Join(mount, secret), []byte(v+"\n"), 0o600) != nil {
					t.Fatal("write secret", secret)
				}
			}
			e := map[string]string{}
			for k, v := range entry.Environment {
				if e[k], err = deploy.Expand(v, func(string) string { return "" }); err != nil {
					t.Fatal(err)
				}
				if rest, ok := strings.CutPrefix(e[k], secretsDir); ok {
					e[k] = filepath.Join(mount, rest)
				}
			}
			ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(dir, "nats"),
				Username: e["NATS_USER"], Password: values["caliopen-nats-"+name]})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ns.Shutdown)
			for k := range e {
				if strings.HasPrefix(k, "CALIOPEN_S3_") {
					delete(e, k)
				}
			}
			e["NATS_URL"], e["CALIOPEN_BLOB_BACKEND"], e["CALIOPEN_BLOB_DIR"] = ns.ClientURL(), "dir", filepath.Join(dir, "blobs")
			e["FUNCTION_PORT"] = "0"

			ctx, cancel := context.WithCancel(context.Background())
			listening := make(chan string, 1)
			out := &lineWriter{listening: listening}
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, env(e), out) }()
			var addr string
			select {
			case addr = <-listening:
			case err := <-done:
				cancel()
				t.Fatalf("run() = %v before listening; logs:\n%s", err, out)
			}
			_, port, _ := net.SplitHostPort(addr)
			order := `{"order":"deliver","message_id":"00000000-0000-4000-8000-000000000001","remote_id":"00000000-0000-4000-8000-000000000003","user_id":"00000000-0000-4000-8000-000000000002"}`
			// Signed with the key the function read from its secret, as the
			// connector signs.
			keys, err := invokeauth.ParseKeys(values["caliopen-invoke-key"])
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/", strings.NewReader(order))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(invokeauth.Header, keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost,
				Function: name, Body: []byte(order)}))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("deliver of an unknown draft: %d %s", resp.StatusCode, body)
			// The store, opened from the DSN's secret, was asked for the
			// draft: a permanent failure naming its answer.
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "has no message") {
				t.Errorf("POST deliver = %d %s, want 422 saying the store has no such message", resp.StatusCode, body)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run() = %v after its context ended", err)
			}
		})
	}
}
