package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/smtplistener"
)

// TestBuild lays the cluster out from the repository's own manifests and
// feeds each process's environment to the configuration loader of its
// program: what the manifests set must load, with every secret resolved.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	cfg := config{DataDir: dir, Root: filepath.Join("..", ".."), BinDir: dir, NATSServer: "nats-server",
		Host: "127.0.0.1", FunctionReplicas: 2, StoreDSN: "postgres://caliopen@127.0.0.1:1/caliopen",
		S3Endpoint: "http://127.0.0.1:2", S3AccessKey: "access", S3SecretKey: "secret", EgressAllow: "127.0.0.1"}
	sec, err := openSecrets(dir, cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := build(cfg, sec)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.NATS) != 3 || len(topo.Connectors) != 2 || len(topo.Listeners) != 2 || len(topo.Schedulers) != 2 {
		t.Fatalf("%d NATS servers, %d connectors, %d listeners, %d schedulers; want 3, 2, 2, 2",
			len(topo.NATS), len(topo.Connectors), len(topo.Listeners), len(topo.Schedulers))
	}
	for _, fn := range []string{"api", "inbound-email", "smtp-deliver", "imap-deliver", "inbound-twitter", "twitter-dm"} {
		if n := len(topo.Functions[fn]); n < 2 {
			t.Errorf("%s: %d replicas, want at least 2 (it answers requests)", fn, n)
		}
	}
	if n := len(topo.Functions["contact-action"]); n != 1 {
		t.Errorf("contact-action: %d replicas, want its stack entry's minimum, 1", n)
	}
	for _, p := range topo.NATS {
		conf, err := os.ReadFile(p.args[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"listen: " + p.Addrs["client"], "http: " + p.Addrs["monitor"],
			"listen: " + p.Addrs["route"], `user: "connector"`, "password: $NATS_PASSWORD_CONNECTOR", "tls {"} {
			if !strings.Contains(string(conf), want) {
				t.Errorf("%s's nats.conf lacks %q", p.Name, want)
			}
		}
	}
	for _, p := range topo.All() {
		if p.Kind == "nats" {
			continue
		}
		env := map[string]string{}
		for _, kv := range p.env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
			if strings.HasPrefix(v, "secret ") || strings.HasPrefix(v, "/var/") || strings.HasPrefix(v, "/etc/") {
				t.Errorf("%s: %s=%s is the manifest's, not this machine's", p.Name, k, v)
			}
		}
		getenv := func(k string) string { return env[k] }
		// The operator's egress allowance reaches the functions, which
		// dial the servers users name, and nothing else.
		if got, want := env[EnvEgressAllow], map[bool]string{true: "127.0.0.1"}[p.Kind == "function"]; got != want {
			t.Errorf("%s: %s=%q, want %q", p.Name, EnvEgressAllow, got, want)
		}
		if !strings.HasPrefix(env["NATS_URL"], "tls://") || env["NATS_TLS_CA_FILE"] != sec.CA || env["NATS_PASSWORD"]+env["NATS_PASSWORD_FILE"] == "" {
			t.Errorf("%s: NATS_URL %q, NATS_TLS_CA_FILE %q, no password: want TLS and its user", p.Name, env["NATS_URL"], env["NATS_TLS_CA_FILE"])
		}
		var err error
		switch p.Kind {
		case "connector":
			var c connector.Config
			c, err = connector.LoadConfig(getenv)
			if err == nil && (c.Mode != connector.ModeStatic || c.StreamReplicas != 3) {
				t.Errorf("%s: mode %s, %d stream replicas; want static, 3", p.Name, c.Mode, c.StreamReplicas)
			}
		case "smtp-listener":
			_, err = smtplistener.LoadConfig(getenv)
		case "scheduler":
			_, err = scheduler.LoadConfig(getenv)
		case "function":
			_, err = platform.LoadConfig(getenv, p.Name)
		}
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
}

// TestEgressAllowChecked: the allowance is read from the environment and
// checked at once, as the functions would read it.
func TestEgressAllowChecked(t *testing.T) {
	for _, tc := range []struct {
		allow string
		ok    bool
	}{
		{"", true},
		{"127.0.0.1", true},
		{"127.0.0.0/8, imap.internal", true},
		{"not a host!", false},
	} {
		env := map[string]string{EnvStoreDSN: "postgres://x@127.0.0.1:1/x", EnvS3Endpoint: "http://127.0.0.1:2",
			EnvS3AccessKey: "a", EnvS3SecretKey: "s", EnvEgressAllow: tc.allow}
		cfg, err := loadConfig([]string{"-bin", t.TempDir(), "-nats-server", "/nonexistent"}, func(k string) string { return env[k] }, io.Discard)
		if bad := err != nil && strings.Contains(err.Error(), EnvEgressAllow); bad == tc.ok {
			t.Errorf("%s=%q: error %v, want ok %v", EnvEgressAllow, tc.allow, err, tc.ok)
		}
		if tc.ok && cfg.EgressAllow != tc.allow {
			t.Errorf("%s=%q: read %q", EnvEgressAllow, tc.allow, cfg.EgressAllow)
		}
	}
}
