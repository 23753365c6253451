package deploy

import (
	"context"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/peertest"
)

// The function TestAddFunction adds, the example of HACKING.md's "How to
// add a function".
const addedName = "user-check"

// TestAddFunction adds a function in a copy of the repository (its files
// git knows of, ignored ones aside) as HACKING.md's "How to add a
// function" says, its commands run as written: the skeleton's folder, the
// registry line, make generate. Then it runs the copy's deploy and
// functions tests: the new function must pass them all (its image's build
// stage among them), and be in stack.yml, the NATS users, their passwords
// and the Knative files. Its cost is compiling those packages again in the
// copy (a new folder misses the build cache): about two minutes of CPU.
func TestAddFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("tests a copy of the repository")
	}
	git := peertest.Tool(t, "git", "apt-get install git")
	root := moduleRoot(t)
	dir := t.TempDir()
	copyRepository(t, git, root, dir)

	steps := addSteps(t, root)
	// Each command ends before the test's own deadline (go test -timeout),
	// so that its output is reported.
	ctx := t.Context()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-30*time.Second))
		defer cancel()
	}
	run := func(name string, args ...string) {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s (in the copy, %s): %v\n%s", name, strings.Join(args, " "), time.Since(start).Round(time.Second), err, out)
		}
		t.Logf("%s %s: %s", name, strings.Join(args, " "), time.Since(start).Round(time.Second))
	}
	for _, line := range steps.folder {
		run("sh", "-c", line)
	}
	addRegistryLine(t, filepath.Join(dir, "functions", "functions.go"), steps.importLine, steps.entry)
	for _, line := range steps.generate {
		run("sh", "-c", line)
	}
	timeout := "30m" // go test's own default of 10m is too short for TestShrinkwrapBuild there
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline).Round(time.Second).String()
	}
	run("go", "test", "-count=1", "-timeout="+timeout, "-skip", "^TestAddFunction$", "./deploy/...", "./functions/...")

	stack, err := ReadStack(filepath.Join(dir, StackFile))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := stack.Functions[addedName]
	if !ok {
		t.Fatalf("stack.yml has no entry %s", addedName)
	}
	if f.Environment["NATS_USER"] != addedName || !slices.Contains(f.Secrets, NATSSecretOf(addedName)) ||
		!slices.Contains(f.Secrets, SecretInvokeKey) {
		t.Errorf("stack.yml %s: NATS_USER %q, secrets %v: want its own NATS user and the invocation key",
			addedName, f.Environment["NATS_USER"], f.Secrets)
	}
	for rel, want := range map[string]string{
		NATSConfigFile:   `user: "` + addedName + `"`,
		SecretsFile:      PasswordEnvOf(addedName) + ": CHANGE-ME",
		KnativeFunctions: "name: " + addedName + "\n",
	} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q: the new function is not in it", rel, want)
		}
	}
}

// copyRepository copies the files of the repository at root that git
// knows of (tracked, or new and not ignored) into dir, links as links.
func copyRepository(t *testing.T, git, root, dir string) {
	t.Helper()
	cmd := exec.Command(git, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	n := 0
	for _, rel := range strings.Split(string(out), "\x00") {
		if rel == "" {
			continue
		}
		src, dst := filepath.Join(root, rel), filepath.Join(dir, rel)
		st, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		} else if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("copied %d files of the repository: git ls-files listed too few", n)
	}
}

// addRegistryLine adds the new function's import and entry to the
// registry's source, as a developer would, gofmt-formatted (the image's
// build stage checks the formatting).
func addRegistryLine(t *testing.T, name, importLine, entry string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	i := strings.Index(src, "import (\n")
	all := strings.Index(src, "func All() []Spec {")
	end := -1
	if all >= 0 {
		if k := strings.Index(src[all:], "\n\t}\n}\n"); k >= 0 {
			end = all + k + 1
		}
	}
	if i < 0 || end < 0 {
		t.Fatalf("%s: no import block, or no end of All() (\"\\t}\\n}\")", name)
	}
	src = src[:end] + entry + "\n" + src[end:]
	src = src[:i+len("import (\n")] + "\t" + importLine + "\n" + src[i+len("import (\n"):]
	out, err := format.Source([]byte(src))
	if err != nil {
		t.Fatalf("the registry with the new line: %v", err)
	}
	if err := os.WriteFile(name, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// addition is HACKING.md's "How to add a function": the commands that
// make the folder, the registry entry and its import, and the command
// that generates the deployment files.
type addition struct {
	folder, generate  []string
	entry, importLine string
}

// addSteps reads the steps from HACKING.md: its section's plain code
// blocks are the commands (the folder's, then the generator's), its go
// block the registry entry, and the import is the code span naming the
// function's package.
func addSteps(t *testing.T, root string) addition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "HACKING.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	i := strings.Index(md, "## How to add a function\n")
	if i < 0 {
		t.Fatal("HACKING.md: no section \"How to add a function\"")
	}
	md = md[i+1:]
	if j := strings.Index(md, "\n## "); j >= 0 {
		md = md[:j]
	}
	// The fenced blocks, by info string, their lines without the fence's
	// indentation.
	blocks := map[string][][]string{}
	var lang, indent string
	var lines []string
	open := false
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !open && strings.HasPrefix(trimmed, "```"):
			open, lang, indent, lines = true, strings.TrimPrefix(trimmed, "```"), line[:len(line)-len(trimmed)], nil
		case open && trimmed == "```":
			open = false
			blocks[lang] = append(blocks[lang], lines)
		case open:
			lines = append(lines, strings.TrimPrefix(line, indent))
		}
	}
	shell, code := blocks[""], blocks["go"]
	imp := regexp.MustCompile("`(\\w+ \"github\\.com/caliopen/functions/functions/" + addedName + "\")`").FindStringSubmatch(md)
	if len(shell) != 2 || len(code) != 1 || imp == nil {
		t.Fatalf("HACKING.md's \"How to add a function\": %d command blocks (want the folder's and the generator's), %d go blocks "+
			"(want the registry entry), import of functions/%s found: %v", len(shell), len(code), addedName, imp != nil)
	}
	if !strings.Contains(strings.Join(shell[0], "\n"), "functions/"+addedName) {
		t.Fatalf("HACKING.md's folder commands %q do not make functions/%s", shell[0], addedName)
	}
	return addition{folder: shell[0], generate: shell[1], entry: strings.Join(code[0], "\n"), importLine: imp[1]}
}
