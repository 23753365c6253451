package deploy

import (
	"bufio"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
)

// moduleRoot is the folder holding go.mod, found upwards from the test's
// working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func registryNames() []string {
	var names []string
	for _, s := range functions.All() {
		names = append(names, s.Name)
	}
	return names
}

func reportAll(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

// TestStackFile checks the repository's stack.yml against the registry and
// the contract, and that each entry's handler folder exists.
func TestStackFile(t *testing.T) {
	root := moduleRoot(t)
	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	reportAll(t, CheckStack(s, registryNames(), contract.Caliopen()))
	for name, f := range s.Functions {
		if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(f.Handler))); err != nil || !st.IsDir() {
			t.Errorf("function %s: handler %s is not a folder of the repository", name, f.Handler)
		}
	}
}

// TestTemplate checks that the caliopen-go template is what stack.yml
// expects, and that every path its Dockerfile copies from the build context
// is one that stack.yml's configuration.copy puts there.
func TestTemplate(t *testing.T) {
	root := moduleRoot(t)
	dir := filepath.Join(root, "templates", Lang)
	data, err := os.ReadFile(filepath.Join(dir, "template.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Language      string `yaml:"language"`
		FProcess      string `yaml:"fprocess"`
		HandlerFolder string `yaml:"handler_folder"`
	}
	if err := yaml.Unmarshal(data, &tmpl); err != nil {
		t.Fatalf("template.yml: %v", err)
	}
	if tmpl.Language != Lang || tmpl.FProcess != "./handler" || tmpl.HandlerFolder != "." {
		t.Errorf("template.yml = %+v, want language %s, fprocess ./handler, handler_folder .", tmpl, Lang)
	}

	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	sources, err := dockerfileSources(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sources) == 0 {
		t.Fatal("Dockerfile copies nothing from the build context")
	}
	for _, src := range sources {
		if !slices.Contains(s.Configuration.Copy, src) {
			t.Errorf("Dockerfile copies %s, which stack.yml's configuration.copy %v does not provide", src, s.Configuration.Copy)
		}
		if _, err := os.Stat(filepath.Join(root, src)); err != nil {
			t.Errorf("Dockerfile copies %s, which the repository lacks", src)
		}
	}
}

// dockerfileSources lists the build-context paths of a Dockerfile's COPY
// instructions (those without --from), in order.
func dockerfileSources(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") {
			continue
		}
		var args []string
		fromStage := false
		for _, a := range fields[1:] {
			switch {
			case strings.HasPrefix(a, "--from="):
				fromStage = true
			case !strings.HasPrefix(a, "--"):
				args = append(args, a)
			}
		}
		if fromStage || len(args) < 2 {
			continue
		}
		for _, src := range args[:len(args)-1] {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(src, "./"), "/"))
		}
	}
	return out, sc.Err()
}

// goodStack has two correct entries: a request/reply function with the
// 10 s inbound deadline and one with both modes on one subject.
const goodStack = `
version: 1.0
provider:
  name: openfaas
  gateway: ${OPENFAAS_URL:-http://127.0.0.1:8080}
configuration:
  copy: [go.mod, go.sum, cmd/function, functions, internal]
functions:
  inbound-email:
    lang: caliopen-go
    handler: ./functions/inbound-email
    image: ${REGISTRY:-ghcr.io/caliopen}/inbound-email:${TAG:-dev}
    build_args:
      FUNCTION: inbound-email
    environment_file: [stack.env.yml]
    environment:
      FUNCTION: inbound-email
      exec_timeout: 8s
      read_timeout: 9s
      write_timeout: 9s
      max_inflight: "20"
      prefix_logs: "false"
    annotations:
      topic: inboundSMTP
      caliopen.queue: SMTPqueue
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "5"
      com.openfaas.scale.zero: "false"
    secrets: [caliopen-store]
    requests: {memory: 32Mi, cpu: 50m}
    limits: {memory: 128Mi, cpu: 500m}
  twitter-dm:
    lang: caliopen-go
    handler: functions/twitter-dm
    image: ${REGISTRY:-ghcr.io/caliopen}/twitter-dm:${TAG:-dev}
    build_args: {FUNCTION: twitter-dm}
    environment_file: [stack.env.yml]
    environment:
      FUNCTION: twitter-dm
      exec_timeout: 25s
      read_timeout: 27s
      write_timeout: 27s
    annotations:
      topic: twitter_dm
      caliopen.queue: twitterworkers
`

func TestCheckStack(t *testing.T) {
	both := []string{"inbound-email", "twitter-dm"}
	tests := []struct {
		name     string
		registry []string
		edit     func(s *Stack)
		// want holds one substring per expected problem.
		want []string
	}{
		{name: "good", registry: both},
		{
			name:     "wrong topic",
			registry: both,
			edit:     func(s *Stack) { s.Functions["inbound-email"].Annotations["topic"] = "outboundSMTP" },
			want:     []string{`function inbound-email: annotation topic is "outboundSMTP", want "inboundSMTP"`},
		},
		{
			name:     "topic with an extra subject",
			registry: both,
			edit:     func(s *Stack) { s.Functions["twitter-dm"].Annotations["topic"] = "twitter_dm,inboundTwitter" },
			want:     []string{`function twitter-dm: annotation topic`},
		},
		{
			name:     "missing topic",
			registry: both,
			edit:     func(s *Stack) { delete(s.Functions["twitter-dm"].Annotations, "topic") },
			want:     []string{`function twitter-dm: annotation topic is ""`},
		},
		{
			name:     "wrong queue",
			registry: both,
			edit:     func(s *Stack) { s.Functions["inbound-email"].Annotations["caliopen.queue"] = "Twitterqueue" },
			want:     []string{`annotation caliopen.queue is "Twitterqueue", want "SMTPqueue"`},
		},
		{
			name:     "missing function",
			registry: []string{"inbound-email", "twitter-dm", "smtp-deliver"},
			want:     []string{"function smtp-deliver is in the registry but has no stack entry"},
		},
		{
			name:     "extra function",
			registry: []string{"inbound-email"},
			want:     []string{"stack entry twitter-dm is not a function of the registry"},
		},
		{
			name:     "empty registry, empty stack",
			registry: nil,
			edit:     func(s *Stack) { s.Functions = nil },
		},
		{
			name:     "timeout at the inbound deadline",
			registry: both,
			edit: func(s *Stack) {
				env := s.Functions["inbound-email"].Environment
				env["exec_timeout"], env["read_timeout"], env["write_timeout"] = "10s", "10s", "10s"
			},
			want: []string{"function inbound-email: exec_timeout 10s is not below the requester's deadline 10s"},
		},
		{
			name:     "timeout above the deliver deadline",
			registry: both,
			edit: func(s *Stack) {
				env := s.Functions["twitter-dm"].Environment
				env["exec_timeout"], env["write_timeout"] = "45s", "45s"
			},
			want: []string{"function twitter-dm: exec_timeout 45s is not below the requester's deadline 30s"},
		},
		{
			name:     "write timeout below exec timeout",
			registry: both,
			edit:     func(s *Stack) { s.Functions["inbound-email"].Environment["write_timeout"] = "5s" },
			want:     []string{"write_timeout 5s is below exec_timeout 8s"},
		},
		{
			name:     "unparsable and missing timeouts",
			registry: both,
			edit: func(s *Stack) {
				env := s.Functions["inbound-email"].Environment
				env["exec_timeout"] = "8"
				delete(env, "read_timeout")
			},
			want: []string{`exec_timeout is "8"`, "read_timeout is missing"},
		},
		{
			name:     "wrong lang",
			registry: both,
			edit: func(s *Stack) {
				f := s.Functions["inbound-email"]
				f.Lang = "golang-middleware"
				s.Functions["inbound-email"] = f
			},
			want: []string{`lang is "golang-middleware", want "caliopen-go"`},
		},
		{
			name:     "FUNCTION names another function",
			registry: both,
			edit: func(s *Stack) {
				s.Functions["inbound-email"].Environment["FUNCTION"] = "smtp-deliver"
				s.Functions["inbound-email"].BuildArgs["FUNCTION"] = ""
			},
			want: []string{`environment FUNCTION is "smtp-deliver"`, `build_args FUNCTION is ""`},
		},
		{
			name:     "port set",
			registry: both,
			edit:     func(s *Stack) { s.Functions["twitter-dm"].Environment["port"] = "8082" },
			want:     []string{`environment sets "port"`},
		},
		{
			name:     "image and handler of another function",
			registry: both,
			edit: func(s *Stack) {
				f := s.Functions["twitter-dm"]
				f.Image = ImageOf("inbound-email")
				f.Handler = "./functions/inbound-email"
				s.Functions["twitter-dm"] = f
			},
			want: []string{"function twitter-dm: handler", "function twitter-dm: image"},
		},
		{
			name:     "scale min above max",
			registry: both,
			edit:     func(s *Stack) { s.Functions["inbound-email"].Labels["com.openfaas.scale.min"] = "6" },
			want:     []string{"label com.openfaas.scale.min 6 is above com.openfaas.scale.max 5"},
		},
		{
			name:     "function without subjects carries a topic",
			registry: []string{"inbound-email", "twitter-dm", "api"},
			edit: func(s *Stack) {
				f := goodEntry(t, "twitter-dm")
				f.Handler, f.Image = "./functions/api", ImageOf("api")
				f.BuildArgs = map[string]string{"FUNCTION": "api"}
				f.Environment["FUNCTION"] = "api"
				delete(f.Annotations, "caliopen.queue")
				s.Functions["api"] = f
			},
			want: []string{`function api: annotation topic is "twitter_dm", but the contract gives the function no subject`},
		},
		{
			name:     "no shared environment",
			registry: both,
			edit: func(s *Stack) {
				f := s.Functions["twitter-dm"]
				f.EnvironmentFile = nil
				s.Functions["twitter-dm"] = f
			},
			want: []string{`function twitter-dm: environment_file is [], want [stack.env.yml]`},
		},
		{
			name:     "wrong version and provider",
			registry: both,
			edit:     func(s *Stack) { s.Version, s.Provider.Name = "2.0", "faasd" },
			want:     []string{`stack version is "2.0"`, `stack provider is "faasd"`},
		},
	}
	c := contract.Caliopen()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseStack([]byte(goodStack))
			if err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(s)
			}
			errs := CheckStack(s, tt.registry, c)
			for _, want := range tt.want {
				if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), want) }) {
					t.Errorf("CheckStack() = %v, want a problem containing %q", errs, want)
				}
			}
			if len(errs) != len(tt.want) {
				t.Errorf("CheckStack() = %d problems %v, want %d", len(errs), errs, len(tt.want))
			}
		})
	}
}

// goodEntry returns a fresh copy of a correct entry of goodStack.
func goodEntry(t *testing.T, name string) Function {
	t.Helper()
	s, err := ParseStack([]byte(goodStack))
	if err != nil {
		t.Fatal(err)
	}
	return s.Functions[name]
}

func TestBindingOf(t *testing.T) {
	c := contract.Caliopen()
	for _, name := range c.Functions() {
		b := BindingOf(c, name)
		// One queue group per subject (identities-orders has two: the
		// seed's identitiesWorker and the original's idCache).
		if len(b.Topics) == 0 || len(b.Queues) == 0 || len(b.Queues) > len(b.Topics) {
			t.Errorf("BindingOf(%q) = %+v, want subjects and their queue groups", name, b)
		}
		for _, s := range c.SubjectsOf(name) {
			if s.HasRequests() && b.Deadline == 0 {
				t.Errorf("BindingOf(%q).Deadline = 0, want the deadline of request/reply subject %s", name, s.Name)
			}
		}
	}
	if b := BindingOf(c, "api"); len(b.Topics) != 0 || b.Deadline != 0 {
		t.Errorf("BindingOf(%q) = %+v, want no subjects", "api", b)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"TAG": "v1", "EMPTY": ""}
	getenv := func(k string) string { return env[k] }
	tests := []struct{ in, want, wantErr string }{
		{in: "plain", want: "plain"},
		{in: "${REGISTRY:-ghcr.io/caliopen}/api:${TAG:-dev}", want: "ghcr.io/caliopen/api:v1"},
		{in: "${EMPTY:-x}${UNSET}", want: "x"},
		{in: "${SMTP_RELAY_ADDR:-}", want: ""},
		{in: "${TAG", wantErr: "unclosed"},
		{in: "${TAG:=v}", wantErr: "is not ${NAME}"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, getenv)
		if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Expand(%q) = %q, %v; want %q, error containing %q", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestReadStackEnvironmentFile checks faas-cli's environment_file: the
// files' values, in order, replace the entry's own; a ${...} in a file is
// refused, since faas-cli would not substitute it.
func TestReadStackEnvironmentFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("stack.yml", `
version: 1.0
functions:
  f:
    environment_file: [a.yml, b.yml]
    environment: {OWN: own, A: inline, B: inline}
`)
	write("a.yml", "environment: {A: a, B: a}\n")
	write("b.yml", "environment: {B: b}\n")
	s, err := ReadStack(filepath.Join(dir, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Functions["f"].Environment, map[string]string{"OWN": "own", "A": "a", "B": "b"}; !maps.Equal(got, want) {
		t.Errorf("environment %v, want %v", got, want)
	}
	write("b.yml", "environment:\n  B: ${B:-b}\n")
	if _, err := ReadStack(filepath.Join(dir, "stack.yml")); err == nil || !strings.Contains(err.Error(), "substitutes no") {
		t.Errorf("a ${...} in an environment file: %v, want an error", err)
	}
	write("b.yml", "environment: {B: b}\nextra: 1\n")
	if _, err := ReadStack(filepath.Join(dir, "stack.yml")); err == nil {
		t.Error("an environment file with another key: no error")
	}
}
