package provider_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/caliopen/functions/deploy"
	"github.com/caliopen/functions/internal/provider"
)

// TestFaasCLIVerbs runs every faas-cli verb the documents name, the real
// faas-cli, against the OpenFaaS CE gateway in front of the provider (with
// Prometheus) and against the local gateway alone; the replicas are the
// real cmd/function. Scaling goes through /system/scale-function, faas-cli
// having no scale command. Each command's own output is in the log.
func TestFaasCLIVerbs(t *testing.T) {
	tl := realTools(t)
	for _, openfaas := range []bool{true, false} {
		name := "local-gateway"
		if openfaas {
			name = "openfaas-gateway"
		}
		t.Run(name, func(t *testing.T) { verbs(t, newFront(t, tl, openfaas), openfaas) })
	}
}

func verbs(t *testing.T, f *front, openfaas bool) {
	if out, err := f.run(t, "faas-cli list"); err == nil || !strings.Contains(strings.ToLower(out), "unauthorized") {
		t.Errorf("list before login: %v, want refused as unauthorized", err)
	}
	f.login(t)
	// The OpenFaaS gateway reads the provider's /system/info in faas-provider's
	// form, where the local gateway serves a gateway's: through it, version
	// shows the gateway alone. faas-cli then fails to reach GitHub for
	// its latest release (no network here) unless told not to look.
	if openfaas {
		f.must(t, "faas-cli version --warn-update=false", `Gateway`)
	} else if out, _ := f.run(t, "faas-cli version --warn-update=false"); !regexp.MustCompile(`name:\s+caliopen-local`).MatchString(out) ||
		!regexp.MustCompile(`orchestration:\s+process`).MatchString(out) {
		t.Error("faas-cli version does not show the provider caliopen-local, process")
	}
	f.must(t, "faas-cli namespaces", `openfaas-fn`)
	if out, err := f.run(t, "faas-cli namespace create other"); err == nil || !strings.Contains(out, "one namespace, openfaas-fn") {
		t.Errorf("namespace create: %v, want refused saying why", err)
	}
	f.must(t, "faas-cli secret create caliopen-twitter-app-secret --from-literal x-app-secret", `Creating secret`)
	f.must(t, "faas-cli deploy -f stack.yml", `Deployed. 202`)
	f.must(t, "faas-cli ready smtp-deliver", `is ready`)

	// invoke: the public api answers (its own 404: faas-cli posts to its
	// root); an internal function is 403, an unknown one 404.
	if out, _ := f.run(t, "echo '{}' | faas-cli invoke api --content-type application/json"); !strings.Contains(out, `"no such route"`) {
		t.Error("invoke api: not the api's own answer")
	}
	if out, err := f.run(t, "echo '{}' | faas-cli invoke smtp-deliver"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("invoke smtp-deliver: %v, want 403", err)
	}
	if out, err := f.run(t, "echo '{}' | faas-cli invoke nope"); err == nil || !strings.Contains(out, "404") {
		t.Errorf("invoke nope: %v, want 404", err)
	}
	// invoke --async, with a callback: accepted, then the function's answer
	// posted to the callback with the call's id. The OpenFaaS CE gateway
	// queues asynchronous calls in NATS Streaming through its queue worker,
	// which is not run here: only the local gateway's are tried.
	if !openfaas {
		got := make(chan http.Header, 1)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case got <- r.Header.Clone():
			default:
			}
		}))
		defer cb.Close()
		f.must(t, "echo '{}' | faas-cli invoke api --async -H \"X-Callback-Url: "+cb.URL+"/done\"", `submitted asynchronously`)
		select {
		case hdr := <-got:
			// The api's own answer to a post at its root: 404.
			if hdr.Get("X-Call-Id") == "" || hdr.Get("X-Function-Name") != "api" || hdr.Get("X-Function-Status") != "404" {
				t.Errorf("callback headers %v, want the call's id, api and its status 404", hdr)
			}
		case <-time.After(30 * time.Second):
			t.Error("no callback within 30 s")
		}
	}

	// list: invocation counts (Prometheus's, through the OpenFaaS gateway).
	waitFor(t, "api's invocation counted in faas-cli list", func() bool {
		out, _ := f.run(t, "faas-cli list")
		m := regexp.MustCompile(`(?m)^api\s+(\d+)\s+`).FindStringSubmatch(out)
		n, _ := strconv.Atoi(m[min(1, len(m)-1)])
		return len(m) == 2 && n >= 1
	})

	// A setting the provider refuses: 400, naming it and why.
	// From a folder without stack.yml, which faas-cli would read.
	out, err := f.run(t, "cd \"$HOME\" && faas-cli deploy --image ghcr.io/caliopen/smtp-deliver:dev --name smtp-deliver "+
		"--env FUNCTION=smtp-deliver --env CALIOPEN_INVOKE_INSECURE=true")
	if err == nil || !strings.Contains(out, "Unexpected status: 400, message: deploy smtp-deliver: setting CALIOPEN_INVOKE_INSECURE is refused: ") {
		t.Errorf("deploy with CALIOPEN_INVOKE_INSECURE=true: %v, want refused naming it", err)
	}
	f.must(t, "faas-cli deploy -f stack.yml --filter smtp-deliver --label com.openfaas.scale.min=0", `Deployed. 202`)
	// describe: what the replicas run with, the platform's in place of the
	// cluster's.
	out = f.must(t, "faas-cli describe smtp-deliver --verbose", `Name:\s+smtp-deliver`, `CALIOPEN_BLOB_BACKEND: dir`,
		`SMTP_DELIVER_RELAY_PASSWORD_FILE: /.*/mounts/smtp-deliver/caliopen-relay-password`)
	if strings.Contains(out, "s3.caliopen") || strings.Contains(out, "nats.caliopen") || !strings.Contains(out, "CALIOPEN_SECRETS_KEYS: xxxxx") {
		t.Error("describe shows a cluster's endpoint, or a secret's value")
	}

	// Scaling, through the provider API as the documents show.
	req, err := http.NewRequest(http.MethodPost, f.url+"/system/scale-function/smtp-deliver",
		strings.NewReader(`{"serviceName":"smtp-deliver","replicas":2}`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(basicAuthUser, f.password)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusAccepted {
		t.Errorf("scale-function = %v %v, want 202", res, err)
	} else {
		res.Body.Close()
	}
	waitFor(t, "two replicas described", func() bool {
		out, _ := f.run(t, "faas-cli describe smtp-deliver")
		return regexp.MustCompile(`Available Replicas:\s+2`).MatchString(out)
	})

	// logs: the last lines, since a time, and following.
	out = f.must(t, "faas-cli logs smtp-deliver --lines 2 --since 10m --tail=false")
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; strings.TrimSpace(out) == "" || n > 2 {
		t.Errorf("logs --lines 2: %d lines", n)
	}
	out, err = f.run(t, "timeout 3 faas-cli logs smtp-deliver --lines 1")
	if err == nil || !strings.Contains(err.Error(), "124") || strings.TrimSpace(out) == "" {
		t.Errorf("logs, following: %v, %q; want a line, then still following when stopped", err, out)
	}

	// secrets: the stack's, and the invocation key kept usable.
	f.must(t, "faas-cli secret list", `caliopen-twitter-app-secret`, provider.InvokeKeySecret)
	f.must(t, "faas-cli secret update caliopen-twitter-app-secret --from-literal y-app-secret", `Updated`)
	f.must(t, "faas-cli secret remove caliopen-twitter-app-secret", `Removed`)
	if out, err := f.run(t, "faas-cli secret remove caliopen-invoke-key"); err == nil || !strings.Contains(out, "cannot be removed") {
		t.Errorf("secret remove caliopen-invoke-key: %v, want refused saying why", err)
	}
	// faas-cli exits 0 whatever the answer to secret update: the answer shows.
	if out, _ := f.run(t, "faas-cli secret update caliopen-invoke-key --from-literal short"); !strings.Contains(out, "400 - secret caliopen-invoke-key: not a usable invocation key") {
		t.Errorf("secret update caliopen-invoke-key: %v, want refused saying why", err)
	}

	f.must(t, "faas-cli remove imap-fetch", `Removing`)
	if out := f.must(t, "faas-cli list"); regexp.MustCompile(`(?m)^imap-fetch\s`).MatchString(out) {
		t.Error("imap-fetch still listed after remove")
	}
	if openfaas {
		t.Logf("Prometheus at %s", f.prom)
	}
}

// docDocuments are where faas-cli command lines may be shown.
func docDocuments(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	docs := []string{filepath.Join(root, "README.md"), filepath.Join(root, "HACKING.md")}
	for _, pattern := range []string{"docs/*.md", "templates/*/README.md", "infra/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m...)
	}
	return docs
}

// docCommand is a faas-cli command line shown in a document.
type docCommand struct {
	where, line string
	inline      bool // a code span of the text, often a part of a command
}

// docCommands reads the faas-cli command lines of the documents: the lines
// of fenced blocks that start a faas-cli command (a loop's body aside), and
// the code spans of the text that start with "faas-cli ", where <function>
// stands for a function.
func docCommands(t *testing.T) []docCommand {
	t.Helper()
	var out []docCommand
	span := regexp.MustCompile("`(faas-cli [^`]+)`")
	for _, doc := range docDocuments(t) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		fenced, n := false, 0
		for sc.Scan() {
			n++
			l := sc.Text()
			where := filepath.Base(filepath.Dir(doc)) + "/" + filepath.Base(doc) + ":" + strconv.Itoa(n)
			switch {
			case strings.HasPrefix(strings.TrimSpace(l), "```"):
				fenced = !fenced
			case fenced && strings.HasPrefix(l, "faas-cli "):
				out = append(out, docCommand{where: where, line: l})
			case !fenced:
				for _, m := range span.FindAllStringSubmatch(l, -1) {
					out = append(out, docCommand{where: where, line: strings.ReplaceAll(m[1], "<function>", "smtp-deliver"), inline: true})
				}
			}
		}
	}
	return out
}

// Verbs whose command needs a container engine or a registry, absent
// here: their command lines are checked by faas-cli's own parser (the
// line with --help: an unknown flag or verb fails it), not run; so are the
// code spans of the text, which name a command or a part of one.
var engineVerbs = []string{"build", "push", "publish", "up", "new"}

// TestDocFaasCLICommands runs every faas-cli command line of README.md,
// HACKING.md, docs/, templates/ and infra/ with the real faas-cli, as
// written, against the local gateway in front of the provider (logged in
// first, OPENFAAS_URL set): each must succeed, so a document cannot show
// a flag or a verb faas-cli refuses.
func TestDocFaasCLICommands(t *testing.T) {
	tl := realTools(t)
	cmds := docCommands(t)
	if len(cmds) < 20 {
		t.Fatalf("found %d faas-cli command lines in the documents, want the examples", len(cmds))
	}
	f := newFront(t, tl, false)
	f.login(t)
	// The data folder the documents name, as make run makes it.
	data := filepath.Join(t.TempDir(), ".data")
	if err := os.MkdirAll(filepath.Join(data, "provider", "auth"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "provider", "auth", "basic-auth-password"), []byte(f.password), 0o600); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for _, c := range cmds {
		line := strings.ReplaceAll(c.line, ".data/", data+"/")
		fields := strings.Fields(line)
		if c.inline || len(fields) > 1 && slices.Contains(engineVerbs, fields[1]) && !strings.Contains(line, "&&") {
			line = strings.SplitN(line, "#", 2)[0] + " --help"
		}
		// Files the commands write (keys, invoke-key) go to a folder of the
		// test's; stack.yml is the repository's.
		line = strings.ReplaceAll(line, "> keys", "> "+work+"/keys")
		line = strings.ReplaceAll(line, "--from-file keys", "--from-file "+work+"/keys")
		line = strings.ReplaceAll(line, "> invoke-key", "> "+work+"/invoke-key")
		line = strings.ReplaceAll(line, "--from-file invoke-key", "--from-file "+work+"/invoke-key")
		out, err := f.run(t, line, "X_APP_SECRET=x-app-secret", "REGISTRY=registry.example.org/caliopen", "TAG=dev")
		if err != nil {
			t.Errorf("%s: %s: %v\n%s", c.where, c.line, err, tail(out, 10))
		}
	}
}

// knativeGenerate is the command docs/deploy.md shows for Knative Services.
const knativeGenerate = "faas-cli generate -f stack.yml --api=serving.knative.dev/v1 --namespace " + deploy.KnativeNamespace

// TestGenerateNamespace: the real faas-cli generate, as docs/deploy.md
// shows it, writes the Knative Services in the namespace infra/knative
// uses, one per function infra/knative has; without --namespace it would
// write OpenFaaS's openfaas-fn, which is why the document names it.
func TestGenerateNamespace(t *testing.T) {
	tl := realTools(t)
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "\n"+knativeGenerate+"\n") {
		t.Errorf("docs/deploy.md does not show %q", knativeGenerate)
	}
	generate := func(args ...string) map[string]string {
		t.Helper()
		cmd := exec.Command(tl.cli, args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("faas-cli %s: %v", strings.Join(args, " "), err)
		}
		return namespaces(t, out)
	}
	committed, err := os.ReadFile(filepath.Join(root, "infra", "knative", "functions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := namespaces(t, committed)
	got := generate(strings.Fields(knativeGenerate)[1:]...)
	if len(got) != len(want) {
		t.Errorf("faas-cli generate wrote %d Services, infra/knative has %d", len(got), len(want))
	}
	for name, ns := range want {
		if ns != deploy.KnativeNamespace || got[name] != ns {
			t.Errorf("%s: infra/knative's namespace %q, faas-cli generate's %q; want both %s", name, ns, got[name], deploy.KnativeNamespace)
		}
	}
	for name, ns := range generate("generate", "-f", "stack.yml", "--api=serving.knative.dev/v1") {
		if ns != "openfaas-fn" {
			t.Errorf("without --namespace, %s in %q: the document's reason for the flag is gone", name, ns)
		}
	}
}

// namespaces maps each Knative Service of a manifest to its namespace.
func namespaces(t *testing.T, manifest []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range deploy.SplitDocs(manifest) {
		var m struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "Service" {
			out[m.Metadata.Name] = m.Metadata.Namespace
		}
	}
	return out
}

// TestSecretsDocumented: docs/deploy.md creates every secret that a
// function mounts, with faas-cli for OpenFaaS and in the functions'
// namespace for the Knative Services (the NATS passwords by their loop).
func TestSecretsDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	stack, err := deploy.ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	knative, err := os.ReadFile(filepath.Join(root, "infra", "knative", "functions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	created := func(prefix, name string) bool {
		if strings.HasPrefix(name, "caliopen-nats-") {
			name = `"caliopen-nats-$fn"`
		}
		return regexp.MustCompile(`(?m)(^|\s)` + regexp.QuoteMeta(prefix+" "+name) + `(\s|$)`).Match(doc)
	}
	optional := map[string]bool{"caliopen-relay-password": true, "caliopen-oauth2-gmail": true}
	for name, f := range stack.Functions {
		for _, s := range f.Secrets {
			if !optional[s] && !created("faas-cli secret create", s) {
				t.Errorf("%s mounts %s, which docs/deploy.md never creates with faas-cli", name, s)
			}
		}
	}
	mounted := regexp.MustCompile(`secretName: (\S+)`).FindAllSubmatch(knative, -1)
	if len(mounted) == 0 {
		t.Fatal("infra/knative/functions.yaml mounts no secret")
	}
	for _, m := range mounted {
		s := string(m[1])
		if !optional[s] && !created("kubectl -n "+deploy.KnativeNamespace+" create secret generic", s) {
			t.Errorf("a Knative Service mounts %s, which docs/deploy.md never creates in %s", s, deploy.KnativeNamespace)
		}
	}
}
