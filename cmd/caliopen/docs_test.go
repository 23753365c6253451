package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/peertest"
)

// The documents whose console examples TestDocs runs.
var documents = []string{"README.md", "HACKING.md", filepath.Join("templates", "caliopen-go", "README.md")}

// The local system's default addresses, as the documents show them; the
// test runs the system on free ports and puts its own in their place.
var defaultAddrs = map[string]string{"gateway": "127.0.0.1:28080", "admin": "127.0.0.1:28081",
	"smtp": "127.0.0.1:22525", "nats": "127.0.0.1:24222"}

// step is one command of a console example and the output it shows.
type step struct {
	doc  string
	line int
	cmd  string
	want []string
}

// consoleSteps parses the ```console blocks of a Markdown document: a
// line "$ command" (continued by lines while it ends with a backslash),
// then the lines of its output.
func consoleSteps(doc, md string) ([]step, error) {
	var steps []step
	in := false
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case !in && l == "```console":
			in = true
		case in && l == "```":
			in = false
		case in && strings.HasPrefix(l, "$ "):
			s := step{doc: doc, line: i + 1, cmd: strings.TrimPrefix(l, "$ ")}
			for strings.HasSuffix(s.cmd, "\\") && i+1 < len(lines) {
				i++
				s.cmd += "\n" + lines[i]
			}
			steps = append(steps, s)
		case in && len(steps) == 0:
			return nil, fmt.Errorf("%s:%d: output before the first command", doc, i+1)
		case in:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, l)
		}
	}
	if in {
		return nil, fmt.Errorf("%s: a console block is not closed", doc)
	}
	return steps, nil
}

// makeRun is the step that starts the system: `[VAR=value ...] make run`.
var makeRun = regexp.MustCompile(`^((?:[A-Z_]+=\S+\s+)*)make run(?:\s+#.*)?$`)

// TestDocs runs every console example of the documents against the local
// system, as a reader would: the system started as `make run` starts it
// (with the variables the document sets on that line; on free ports, put
// in the place of the default ones in the commands), then every other
// command in one bash, in order, from the repository's root. Each
// command (each in a new second) must show the document's output, where ids and times may
// differ, runs of spaces count as one, and "..." stands for any text (a
// line of its own: any lines). A command whose shown output has the
// client's error line ("caliopen: ...") must fail; any other must succeed.
// So a stale example fails the test.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the local system")
	}
	for _, tool := range []string{"bash", "curl", "swaks"} {
		peertest.Tool(t, tool, "scripts/test-peers/postfix-tools.sh installs swaks")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil || !regexp.MustCompile(`(?m)^run:\n(\t@echo .*\n)?\t\$\(GO\) build -o \$\(BIN\)/ ./cmd/caliopen-local ./cmd/function\n(\t@echo .*\n)?\t\$\(BIN\)/caliopen-local \$\(ARGS\)$`).Match(makefile) {
		t.Fatalf("the Makefile's run target is not the build and start of cmd/caliopen-local this test does in its place (%v)", err)
	}
	bin, goCmd := localBinary(t)
	checked := 0
	for _, doc := range documents {
		md, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		steps, err := consoleSteps(doc, string(md))
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) == 0 {
			continue
		}
		checked += len(steps)
		t.Run(strings.ReplaceAll(doc, string(os.PathSeparator), "_"), func(t *testing.T) {
			runSteps(t, root, bin, goCmd, steps)
		})
	}
	if checked == 0 {
		t.Fatal("no console example found")
	}
}

// The caliopen-local binary the tests run, built once.
var built struct {
	once       sync.Once
	dir, goCmd string
	err        error
}

// localBinary builds cmd/caliopen-local once for the package's tests, and
// returns its directory and the go command.
func localBinary(t *testing.T) (dir, goCmd string) {
	t.Helper()
	built.once.Do(func() {
		if built.goCmd, built.err = exec.LookPath("go"); built.err != nil {
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "caliopen-local-bin"); built.err != nil {
			return
		}
		build := exec.Command(built.goCmd, "build", "-o", built.dir+string(os.PathSeparator), "./cmd/caliopen-local", "./cmd/function")
		build.Dir = filepath.Join("..", "..")
		if out, err := build.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("build cmd/caliopen-local and cmd/function: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir, built.goCmd
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// runSteps starts the system and runs steps.
func runSteps(t *testing.T, root, bin, goCmd string, steps []step) {
	var sysEnv []string
	var cmds []step
	for _, s := range steps {
		if m := makeRun.FindStringSubmatch(s.cmd); m != nil {
			if len(s.want) > 0 {
				t.Errorf("%s:%d: make run runs on; its output is not an example", s.doc, s.line)
			}
			sysEnv = append(sysEnv, strings.Fields(m[1])...)
			continue
		}
		cmds = append(cmds, s)
	}
	env := cleanEnv(goCmd)
	addrs := startSystem(t, bin, append(env, sysEnv...))
	config := t.TempDir()
	env = append(env, "CALIOPEN_URL=http://"+addrs["gateway"], "CALIOPEN_NATS_URL=nats://"+addrs["nats"],
		EnvConfigDir+"="+config, EnvDataDir+"="+addrs["data"])

	var script strings.Builder
	// Each command starts in a new second, as when a person types them:
	// messages written by two commands then never share a date (dates
	// have whole seconds), and lists show them in the document's order.
	script.WriteString("exec 2>&1 </dev/null\nnext_second() { sleep \"0.$(printf %09d $((999999999 - 10#$(date +%N))))\"; }\n")
	for i, s := range cmds {
		if i > 0 {
			script.WriteString("next_second\n")
		}
		cmd := s.cmd
		for k, def := range defaultAddrs {
			cmd = strings.ReplaceAll(cmd, def, addrs[k])
		}
		fmt.Fprintf(&script, "printf '\\n@@step %d\\n'\n%s\nprintf '\\n@@rc %d %%d\\n' $?\n", i, cmd, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "bash", "-c", script.String())
	sh.Dir, sh.Env = root, env
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got, rcs := splitSteps(string(out))
	for i, s := range cmds {
		text := got[i]
		for k, def := range defaultAddrs {
			text = strings.ReplaceAll(text, addrs[k], def)
		}
		lines := outputLines(text)
		if os.Getenv("DOCS_SHOW") != "" { // to write an example: DOCS_SHOW=1 go test -v -run TestDocs
			t.Logf("%s:%d: $ %s\n%s", s.doc, s.line, s.cmd, strings.Join(lines, "\n"))
		}
		rc, ran := rcs[i]
		wantFail := false
		for _, w := range s.want {
			wantFail = wantFail || strings.HasPrefix(w, "caliopen: ")
		}
		switch {
		case !ran:
			t.Errorf("%s:%d: $ %s\ndid not run; the output was\n%s", s.doc, s.line, s.cmd, out)
		case wantFail && rc == 0:
			t.Errorf("%s:%d: $ %s\nsucceeded, the document shows it failing; output:\n%s", s.doc, s.line, s.cmd, text)
		case !wantFail && rc != 0:
			t.Errorf("%s:%d: $ %s\nfailed (exit status %d):\n%s", s.doc, s.line, s.cmd, rc, text)
		case !matchLines(s.want, lines):
			t.Errorf("%s:%d: $ %s\ngot:\n%s\nthe document shows:\n%s", s.doc, s.line, s.cmd,
				strings.Join(lines, "\n"), strings.Join(s.want, "\n"))
		}
	}
}

// cleanEnv is the test's environment without the variables that would
// point the system or the client elsewhere, with go on the PATH.
func cleanEnv(goCmd string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "CALIOPEN_") || strings.HasPrefix(k, "NATS_") || strings.HasPrefix(k, "SMTP_") || k == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+filepath.Dir(goCmd)+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// startSystem runs caliopen-local from bin on free ports with env, and
// returns its addresses; it is stopped (SIGINT, as Ctrl-C) at the end of
// the test, which fails if it does not stop cleanly.
func startSystem(t *testing.T, bin string, env []string) map[string]string {
	t.Helper()
	data := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "caliopen-local"), "-data", data,
		"-nats-port", "0", "-smtp-port", "0", "-gateway-port", "0", "-admin-port", "0")
	cmd.Env = env
	logw := &syncWriter{w: &bytes.Buffer{}}
	cmd.Stderr = logw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		for range lines {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("the system did not stop cleanly: %v\n%s", err, logw.String())
		}
	})
	patterns := map[string]*regexp.Regexp{
		"nats":    regexp.MustCompile(`NATS \(JetStream\)\s+nats://(\S+)`),
		"gateway": regexp.MustCompile(`^\s+gateway\s+http://(\S+)`),
		"smtp":    regexp.MustCompile(`^\s+SMTP\s+(\S+)`),
		"admin":   regexp.MustCompile(`connector metrics\s+http://(\S+)/metrics`),
	}
	// The data directory, where the operator's NATS password is.
	addrs := map[string]string{"data": data}
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the system stopped before starting:\n%s", logw.String())
			}
			for k, re := range patterns {
				if m := re.FindStringSubmatch(l); m != nil {
					addrs[k] = m[1]
				}
			}
			if strings.Contains(l, "Ctrl-C") {
				if len(addrs) != len(patterns)+1 {
					t.Fatalf("the summary lacks addresses: %v", addrs)
				}
				go func() { // keep reading until it exits
					for range lines {
					}
				}()
				return addrs
			}
		case <-timeout:
			t.Fatalf("the system did not start:\n%s", logw.String())
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// splitSteps cuts the script's output at its markers.
func splitSteps(out string) (map[int]string, map[int]int) {
	got, rcs := map[int]string{}, map[int]int{}
	cur := -1
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		var i, rc int
		if n, _ := fmt.Sscanf(l, "@@step %d", &i); n == 1 && strings.HasPrefix(l, "@@step ") {
			cur = i
			b.Reset()
			continue
		}
		if n, _ := fmt.Sscanf(l, "@@rc %d %d", &i, &rc); n == 2 && strings.HasPrefix(l, "@@rc ") {
			got[i], rcs[i] = b.String(), rc
			cur = -1
			continue
		}
		if cur >= 0 {
			b.WriteString(l + "\n")
		}
	}
	return got, rcs
}

var (
	uuidRe   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRe   = regexp.MustCompile(`\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?`)
	spacesRe = regexp.MustCompile(`\s+`)
)

// normalize makes a line comparable: ids and times replaced, runs of
// spaces made one.
func normalize(l string) string {
	l = uuidRe.ReplaceAllString(l, "<id>")
	l = timeRe.ReplaceAllString(l, "<time>")
	return strings.TrimSpace(spacesRe.ReplaceAllString(l, " "))
}

// outputLines is a step's output as lines, without the blank lines that
// surround it.
func outputLines(s string) []string {
	s = strings.Trim(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// matchLines reports whether got matches the shown lines want.
func matchLines(want, got []string) bool {
	for len(want) > 0 && strings.TrimSpace(want[len(want)-1]) == "" {
		want = want[:len(want)-1]
	}
	if len(want) == 0 {
		return len(got) == 0
	}
	if strings.TrimSpace(want[0]) == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	if len(got) == 0 {
		return false
	}
	parts := strings.Split(normalize(want[0]), "...")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	if !regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(normalize(got[0])) {
		return false
	}
	return matchLines(want[1:], got[1:])
}

// TestMatchLines pins the comparison TestDocs makes.
func TestMatchLines(t *testing.T) {
	for _, tc := range []struct {
		want, got string
		ok        bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"sent 0ae3d437-c7e2-5b83-b70e-37b6d7a0fd67", "sent 11111111-2222-3333-4444-555555555555", true},
		{"logged in as alice until 2026-12-04 02:23 UTC", "logged in as alice until 2027-01-01 00:00 UTC", true},
		{"logged in as alice until 2026-12-04 02:23 UTC", "logged in as bob until 2027-01-01 00:00 UTC", false},
		{"ID   NAME\nx    y", "ID NAME\nx y", true},
		{"a\n...\nd", "a\nb\nc\nd", true},
		{"a\n...\nd", "a\nd", true},
		{"a\n...", "a\nb", true},
		{"a\n...\nd", "a\nb", false},
		{`{"error":true,...}`, `{"error":true,"message":"x"}`, true},
		{`{"error":true,...}`, `{"error":false,"message":"x"}`, false},
		{"", "", true},
		{"", "x", false},
		{"x", "", false},
	} {
		if got := matchLines(outputLines(tc.want), outputLines(tc.got)); got != tc.ok {
			t.Errorf("matchLines(%q, %q) = %v", tc.want, tc.got, got)
		}
	}
}
