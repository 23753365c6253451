package deploy

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
)

// TestGenerated checks that every file Generate writes is what the
// registry and the contract generate now.
func TestGenerated(t *testing.T) {
	root := moduleRoot(t)
	files, err := Generate(root, functions.All(), contract.Caliopen())
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{StackFile, NATSConfigFile, SecretsFile, KnativeFunctions, KnativeTopicMap} {
		want, ok := files[rel]
		if !ok {
			t.Errorf("Generate writes no %s", rel)
			continue
		}
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the registry (functions/functions.go) and the contract generate: run %s (%s)",
				rel, GenerateCommand, firstDiff(string(got), string(want)))
		}
	}
	if len(files) != 5 {
		t.Errorf("Generate writes %d files, want the 5 this test checks", len(files))
	}
}

// firstDiff names the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d is %q, want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestStackEntries renders one registry entry at a time and reads it back
// as faas-cli's stack file: the defaults a zero Deploy takes from the
// contract, what a Deploy adds, and the entries the generator refuses.
func TestStackEntries(t *testing.T) {
	c := contract.Caliopen()
	nats := func(env functions.Env) (fnhttp.Core, error) { return nil, nil }
	web := func(env functions.Env) (http.Handler, error) { return nil, nil }
	shared := []string{SecretStoreDSN, SecretS3Key}
	tests := []struct {
		name    string
		spec    functions.Spec
		check   func(t *testing.T, f Function)
		wantErr string
	}{
		{name: "request/reply: 2 s below the deadline",
			spec: functions.Spec{Name: "smtp-deliver", Build: nats},
			check: func(t *testing.T, f Function) {
				want := map[string]string{"exec_timeout": "28s", "read_timeout": "29s", "write_timeout": "29s", "max_inflight": "50",
					"NATS_USER": "smtp-deliver", "NATS_INBOX_PREFIX": "_INBOX_smtp-deliver",
					"NATS_PASSWORD_FILE":       SecretsPath + "caliopen-nats-smtp-deliver",
					"CALIOPEN_INVOKE_KEY_FILE": SecretsPath + SecretInvokeKey}
				for k, v := range want {
					if f.Environment[k] != v {
						t.Errorf("environment %s = %q, want %q", k, f.Environment[k], v)
					}
				}
				if f.Annotations[AnnotationTopic] != contract.SubjectOutboundSMTP || f.Labels["com.openfaas.scale.zero"] != "false" {
					t.Errorf("annotations %v, labels %v", f.Annotations, f.Labels)
				}
				if want := append(shared, "caliopen-nats-smtp-deliver", SecretInvokeKey); !slices.Equal(f.Secrets, want) {
					t.Errorf("secrets %v, want %v", f.Secrets, want)
				}
			}},
		{name: "publish/subscribe: 10 s, its own settings",
			spec: functions.Spec{Name: "imap-worker", Build: nats, Deploy: functions.Deploy{MaxInflight: 7, ScaleToZero: true,
				Secrets: []string{"caliopen-keys"}, Env: []functions.EnvVar{{Name: "A", Value: "5000", Comment: "two\nlines"}}}},
			check: func(t *testing.T, f Function) {
				if f.Environment["exec_timeout"] != "10s" || f.Environment["max_inflight"] != "7" || f.Environment["A"] != "5000" {
					t.Errorf("environment %v", f.Environment)
				}
				if f.Labels["com.openfaas.scale.zero"] != "true" || f.Secrets[len(f.Secrets)-1] != "caliopen-keys" {
					t.Errorf("labels %v, secrets %v", f.Labels, f.Secrets)
				}
			}},
		{name: "HTTP: no invocation key, no topic",
			spec: functions.Spec{Name: "api", HTTP: web, Deploy: functions.Deploy{Timeout: 60 * time.Second}},
			check: func(t *testing.T, f Function) {
				if f.Environment["exec_timeout"] != "60s" || f.Environment["CALIOPEN_INVOKE_KEY_FILE"] != "" || f.Annotations != nil {
					t.Errorf("environment %v, annotations %v", f.Environment, f.Annotations)
				}
				if want := append(shared, "caliopen-nats-api"); !slices.Equal(f.Secrets, want) {
					t.Errorf("secrets %v, want %v", f.Secrets, want)
				}
			}},
		{name: "orders without their subjects", spec: functions.Spec{Name: "api", HTTP: web, Orders: true},
			wantErr: "orders true, but 0 outbox subjects"},
		{name: "a variable the generator sets", spec: functions.Spec{Name: "api", HTTP: web,
			Deploy: functions.Deploy{Env: []functions.EnvVar{{Name: "NATS_USER", Value: "x"}}}},
			wantErr: `environment "NATS_USER"`},
		{name: "part of a second", spec: functions.Spec{Name: "api", HTTP: web, Deploy: functions.Deploy{Timeout: 1500 * time.Millisecond}},
			wantErr: "want whole seconds"},
		{name: "a value on two lines", spec: functions.Spec{Name: "api", HTTP: web,
			Deploy: functions.Deploy{Env: []functions.EnvVar{{Name: "A", Value: "x\ny"}}}},
			wantErr: "spans lines"},
		{name: "a shared secret again", spec: functions.Spec{Name: "smtp-deliver", Build: nats,
			Deploy: functions.Deploy{Secrets: []string{SecretInvokeKey}}},
			wantErr: "mounted twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, err := StackEntries([]functions.Spec{tt.spec}, c)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.spec.Name) {
					t.Fatalf("StackEntries = %v, want an error naming %s and saying %q", err, tt.spec.Name, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseStack([]byte("version: 1.0\nprovider:\n  name: openfaas\nfunctions:\n" + text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			f := s.Functions[tt.spec.Name]
			reportAll(t, CheckStack(s, []string{tt.spec.Name}, c))
			tt.check(t, f)
		})
	}
}

// TestReplaceBetween: the generated part of a hand-kept file lies between
// one BEGIN line and one END line after it; anything else is refused.
func TestReplaceBetween(t *testing.T) {
	const begin, end = "# BEGIN\n", "# END\n"
	tests := []struct {
		text, want string
	}{
		{text: "a\n# BEGIN\nold\n# END\nb\n", want: "a\n# BEGIN\nnew\n# END\nb\n"},
		{text: "a\n# BEGIN\n# END\n", want: "a\n# BEGIN\nnew\n# END\n"},
		{text: "a\n# END\n# BEGIN\n"},
		{text: "# BEGIN\nold\n"},
		{text: "# BEGIN\n# BEGIN\n# END\n"},
	}
	for _, tt := range tests {
		got, err := replaceBetween(tt.text, begin, end, "new\n")
		if tt.want == "" {
			if err == nil {
				t.Errorf("replaceBetween(%q) = %q, want an error", tt.text, got)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("replaceBetween(%q) = %q, %v, want %q", tt.text, got, err, tt.want)
		}
	}
}
