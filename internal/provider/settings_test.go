package provider

import (
	"errors"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/types"
)

// TestRefused: every setting of the list is refused at deploy with 400,
// naming it and its reason; the values the list allows pass; settings the
// list does not name pass.
func TestRefused(t *testing.T) {
	p := &Provider{cfg: Config{Functions: []string{"smtp-deliver"}, DataDir: t.TempDir(), IdleTimeout: DefaultIdleTimeout}}
	deploy := func(env map[string]string) error {
		env[EnvFunction] = "smtp-deliver"
		_, err := p.parse(types.FunctionDeployment{Service: "smtp-deliver", Image: "local/smtp-deliver", EnvVars: env})
		return err
	}
	cases := []struct {
		name, value string
		refused     bool
	}{
		{"LD_PRELOAD", "/tmp/x.so", true},
		{"LD_LIBRARY_PATH", "/tmp", true},
		{"CALIOPEN_INVOKE_INSECURE", "true", true},
		{"CALIOPEN_INVOKE_INSECURE", "1", true},
		{"CALIOPEN_INVOKE_INSECURE", "maybe", true},
		{"CALIOPEN_INVOKE_INSECURE", "false", false},
		{"CALIOPEN_INVOKE_KEY", strings.Repeat("k", 32), true},
		{"CALIOPEN_INVOKE_KEY_FILE", "/tmp/my-key", true},
		{"CALIOPEN_INVOKE_KEY_FILE", SecretsMount + InvokeKeySecret, false},
		{"CALIOPEN_KEYS_ALLOW_PRIVATE", "true", true},
		{"CALIOPEN_KEYS_ALLOW_PRIVATE", "false", false},
		{"CALIOPEN_EGRESS_ALLOW", "10.0.0.0/8", true},
		{"port", "9999", true},
		{"max_inflight", "5", false},
		{"SMTP_RELAY_HOST", "relay.example.org", false},
	}
	listed := map[string]bool{}
	for _, c := range cases {
		err := deploy(map[string]string{c.name: c.value})
		var re *RequestError
		switch {
		case c.refused && (!errors.As(err, &re) || re.Status != 400 || !strings.Contains(err.Error(), "setting "+c.name+" is refused: ")):
			t.Errorf("%s=%s: %v, want 400 naming it and why", c.name, c.value, err)
		case !c.refused && err != nil:
			t.Errorf("%s=%s: %v, want it accepted", c.name, c.value, err)
		}
		for _, r := range Refused {
			if c.refused && r.refuses(c.name, c.value) {
				listed[r.Name] = true
			}
		}
	}
	for _, r := range Refused {
		if !listed[r.Name] {
			t.Errorf("refused setting %s has no case here", r.Name)
		}
		if r.Reason == "" {
			t.Errorf("refused setting %s has no reason", r.Name)
		}
	}
	// Every refusal of one deployment is named at once.
	err := deploy(map[string]string{"LD_PRELOAD": "x", "CALIOPEN_INVOKE_INSECURE": "true"})
	if err == nil || !strings.Contains(err.Error(), "LD_PRELOAD") || !strings.Contains(err.Error(), "CALIOPEN_INVOKE_INSECURE") {
		t.Errorf("two refused settings: %v, want both named", err)
	}
}

// TestShownEnvironment: describe lists the settings a replica runs with:
// the cluster's endpoints replaced by the platform's, the secrets' paths
// as the replica reads them, no password.
func TestShownEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := &Provider{cfg: Config{Functions: []string{"smtp-deliver"}, DataDir: dir, IdleTimeout: DefaultIdleTimeout,
		DropEnv: []string{"CALIOPEN_BLOB_", "NATS_", "CALIOPEN_S3_"},
		Env:     map[string]string{"CALIOPEN_BLOB_BACKEND": "dir", "NATS_URL": "nats://127.0.0.1:24222", "CALIOPEN_STORE_DSN": "postgres://u:secret@db/c"}}}
	s, err := p.parse(types.FunctionDeployment{Service: "smtp-deliver", Image: "local/smtp-deliver", EnvVars: map[string]string{
		EnvFunction: "smtp-deliver", "CALIOPEN_BLOB_BACKEND": "s3", "CALIOPEN_S3_ENDPOINT": "http://s3.caliopen:7070",
		"NATS_URL": "nats://nats.caliopen:4222", "SMTP_DELIVER_RELAY_PASSWORD_FILE": SecretsMount + "caliopen-relay-password",
		"CALIOPEN_SECRETS_KEYS": "k1:c2VjcmV0", "NATS_PASSWORD": "pw", "SMTP_DELIVER_RELAY_USER": "relay"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{EnvFunction: "smtp-deliver", "CALIOPEN_BLOB_BACKEND": "dir", "NATS_URL": "nats://127.0.0.1:24222",
		"CALIOPEN_STORE_DSN":               "postgres://u:xxxxx@db/c",
		"SMTP_DELIVER_RELAY_PASSWORD_FILE": p.mountDir("smtp-deliver") + "/caliopen-relay-password",
		"CALIOPEN_SECRETS_KEYS":            "xxxxx", "SMTP_DELIVER_RELAY_USER": "relay"}
	if len(s.shown) != len(want) {
		t.Errorf("shown %v, want %v", s.shown, want)
	}
	for k, v := range want {
		if s.shown[k] != v {
			t.Errorf("shown %s = %q, want %q", k, s.shown[k], v)
		}
	}
}
