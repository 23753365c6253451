package smtpdeliver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvRelayAddr: "relay.internal:587", EnvRelayUser: "caliopen",
		EnvRelayPassword + "_FILE": pw, EnvRelayAuth: "login", EnvSendLease: "3m"}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay.Password != "s3cret" || cfg.Relay.Auth != "LOGIN" || cfg.Relay.TLS != "starttls" ||
		cfg.SendLease != 3*time.Minute || !cfg.LocalDelivery {
		t.Errorf("config %+v", cfg)
	}
	if strings.Contains(cfg.Relay.String(), "s3cret") {
		t.Error("the relay's description shows its password")
	}
	bad := map[string]string{EnvRelayAddr: "no-port", EnvRelayTLS: "maybe", EnvRelayUser: "u",
		EnvLocalDelivery: "perhaps", EnvSendLease: "1s", EnvSMTPTimeout: "soon"}
	_, err = LoadConfig(func(k string) string { return bad[k] })
	for _, want := range []string{"not host:port", "tls mode", "needs a username and a password", EnvLocalDelivery, EnvSMTPTimeout} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// Without a relay user the password's secret is optional: its file, named
// by the stack but not mounted, is not read; with a user it must exist.
func TestLoadConfigRelayPasswordOptional(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "caliopen-relay-password")
	env := map[string]string{EnvRelayPassword + "_FILE": missing}
	if _, err := LoadConfig(func(k string) string { return env[k] }); err != nil {
		t.Errorf("LoadConfig() without a relay = %v, want nil", err)
	}
	env[EnvRelayAddr], env[EnvRelayUser] = "relay.internal:587", "caliopen"
	if _, err := LoadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), EnvRelayPassword+"_FILE") {
		t.Errorf("LoadConfig() with a relay user and no password file = %v, want an error naming %s_FILE", err, EnvRelayPassword)
	}
}
