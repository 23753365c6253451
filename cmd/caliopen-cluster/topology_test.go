package main

import (
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/smtplistener"
)

// TestBuild lays the cluster out from the repository's own manifests and
// feeds each process's environment to the configuration loader of its
// program: what the manifests set must load, with every secret resolved.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	cfg := config{DataDir: dir, Root: filepath.Join("..", ".."), BinDir: dir, NATSServer: "nats-server", OpenFaaSGateway: "gateway", Prometheus: "prometheus",
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
	deps := map[string]types.FunctionDeployment{}
	for _, d := range topo.Deployments {
		deps[d.Service] = d
	}
	if len(deps) != len(topo.Deployments) || len(deps) < 10 {
		t.Fatalf("%d deployments, %d functions: want one per stack entry", len(topo.Deployments), len(deps))
	}
	for _, fn := range []string{"api", "inbound-email", "smtp-deliver", "imap-deliver", "inbound-twitter", "twitter-dm"} {
		if n := minOf(deps[fn]); n < 2 {
			t.Errorf("%s: at least %d replicas, want 2 (it answers requests)", fn, n)
		}
	}
	if n := minOf(deps["contact-action"]); n != 1 {
		t.Errorf("contact-action: at least %d replicas, want its stack entry's minimum, 1", n)
	}
	// The gateway reaches the provider, with the credentials the
	// connectors mount.
	gw := map[string]string{}
	for _, kv := range topo.Gateway.env {
		k, v, _ := strings.Cut(kv, "=")
		gw[k] = v
	}
	if gw["functions_provider_url"] != "http://"+topo.ProviderAddr+"/" || gw["basic_auth"] != "true" {
		t.Errorf("gateway: provider %q, basic_auth %q", gw["functions_provider_url"], gw["basic_auth"])
	}
	if pw, err := os.ReadFile(filepath.Join(gw["secret_mount_path"], "basic-auth-password")); err != nil || string(pw) != sec.GatewayPassword {
		t.Errorf("gateway's basic-auth-password: %q, %v", pw, err)
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
	// Free ports below the ephemeral range, from which the replicas,
	// started on port 0, draw theirs.
	for _, p := range topo.All() {
		for name, addr := range p.Addrs {
			_, port, _ := net.SplitHostPort(addr)
			if n, _ := strconv.Atoi(port); n < lowPort || n >= ephemeralLow() {
				t.Errorf("%s: %s at %s: want a port in [%d, %d)", p.Name, name, addr, lowPort, ephemeralLow())
			}
		}
	}
	for _, p := range topo.All() {
		if p.Kind == "nats" || p.Kind == "gateway" || p.Kind == "prometheus" {
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
		if got := env[EnvEgressAllow]; got != "" {
			t.Errorf("%s: %s=%q, want it for the functions only", p.Name, EnvEgressAllow, got)
		}
		if !strings.HasPrefix(env["NATS_URL"], "tls://") || env["NATS_TLS_CA_FILE"] != sec.CA || env["NATS_PASSWORD"]+env["NATS_PASSWORD_FILE"] == "" {
			t.Errorf("%s: NATS_URL %q, NATS_TLS_CA_FILE %q, no password: want TLS and its user", p.Name, env["NATS_URL"], env["NATS_TLS_CA_FILE"])
		}
		var err error
		switch p.Kind {
		case "connector":
			var c connector.Config
			c, err = connector.LoadConfig(getenv)
			if err == nil && (c.Mode != connector.ModeGateway || c.GatewayURL != "http://"+topo.GatewayAddr ||
				!c.GatewayBasicAuth || c.StreamReplicas != 3) {
				t.Errorf("%s: mode %s at %s (basic auth %v), %d stream replicas; want gateway at the OpenFaaS gateway, 3",
					p.Name, c.Mode, c.GatewayURL, c.GatewayBasicAuth, c.StreamReplicas)
			}
			if c.SecretMountPath != gw["secret_mount_path"] {
				t.Errorf("%s: secret_mount_path %q, want the gateway's %q", p.Name, c.SecretMountPath, gw["secret_mount_path"])
			}
		case "smtp-listener":
			_, err = smtplistener.LoadConfig(getenv)
		case "scheduler":
			_, err = scheduler.LoadConfig(getenv)
		}
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
	}
	// Each function's environment as the provider gives it: the
	// deployment's, secrets' files at the provider's mount, this
	// machine's settings over them.
	for name, d := range deps {
		env := map[string]string{}
		for k, v := range d.EnvVars {
			if rest, ok := strings.CutPrefix(v, provider.SecretsMount); ok {
				if _, made := topo.Secrets[rest]; !made && slices.Contains(d.Secrets, rest) && !strings.Contains(k, "RELAY") {
					t.Errorf("%s: %s names secret %s, which the cluster does not make", name, k, rest)
				}
				v = filepath.Join(dir, "secrets-of-"+name, rest)
				if val, made := topo.Secrets[rest]; made {
					if err := os.MkdirAll(filepath.Dir(v), 0o700); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(v, []byte(val), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			env[k] = v
		}
		maps.Copy(env, topo.ProviderEnv)
		maps.Copy(env, topo.FunctionEnv[name])
		if env[EnvEgressAllow] != "127.0.0.1" {
			t.Errorf("%s: %s=%q, want the operator's 127.0.0.1", name, EnvEgressAllow, env[EnvEgressAllow])
		}
		if !strings.HasPrefix(env["NATS_URL"], "tls://") || env["NATS_TLS_CA_FILE"] != sec.CA || env["NATS_PASSWORD_FILE"] == "" {
			t.Errorf("%s: NATS_URL %q, NATS_TLS_CA_FILE %q, no password file: want TLS and its user", name, env["NATS_URL"], env["NATS_TLS_CA_FILE"])
		}
		if _, err := platform.LoadConfig(func(k string) string { return env[k] }, name); err != nil {
			t.Errorf("%s: %v", name, err)
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
