package deploy

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// buildStage is the template Dockerfile's stage that checks and compiles
// the module; the others only assemble images from it.
const buildStage = "build"

// mirror lists the changes the test makes to the build stage's RUN lines,
// each of which must occur, so that a change to the Dockerfile that the
// test cannot follow fails it rather than passes silently.
var mirror = []struct{ old, new, why string }{
	// The in-image test run runs the whole suite, which the repository's
	// own test run covers; go vet type-checks the same packages with their
	// test files (what fails when a test imports a package the image
	// lacks) without running them.
	{old: "go test -short ", new: "go vet ", why: "compile-only check of the tested packages"},
	// Flags that change only the binary's debug data and paths: without
	// them the machine's build cache serves the dependencies, which a build
	// with -trimpath would compile again.
	{old: `-trimpath -ldflags "-s -w" `, new: "", why: "debug data flags of go build"},
	// /out is the image's output folder; here it is a temporary one.
	{old: "/out/", new: "$OUT/", why: "output folder"},
}

// TestShrinkwrapBuild builds each stack entry from exactly what "faas-cli
// build --shrinkwrap" puts in its build context: the template, the
// handler's files and stack.yml's configuration.copy paths, nothing else of
// the repository. It runs the template Dockerfile's build stage there:
// its COPY instructions, then its RUN lines with sh, offline from the
// module cache (the gofmt check, the tested packages type-checked with their
// tests, go build of the handler), with the
// changes listed in mirror. Entries whose stage input is the same are built
// once.
func TestShrinkwrapBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the whole module in a copy of it")
	}
	root := moduleRoot(t)
	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	templateDir := filepath.Join(root, "templates", Lang)
	data, err := os.ReadFile(filepath.Join(templateDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages, err := ParseDockerfile(data)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(stages, func(s Stage) bool { return s.Name == buildStage })
	if i < 0 {
		t.Fatalf("the Dockerfile has no stage %q", buildStage)
	}
	stage := stages[i]
	without := func(p string) []string {
		return slices.DeleteFunc(slices.Clone(s.Configuration.Copy), func(c string) bool { return c == p })
	}
	tests := []struct {
		name string
		copy []string
		// wantErr is empty when every entry must build.
		wantErr string
	}{
		{name: "stack.yml's copy list", copy: s.Configuration.Copy},
		{name: "without internal", copy: without("internal"), wantErr: "internal is not in the build context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			groups := map[string][]string{} // stage input digest -> functions
			var order []string
			var errs []string
			for _, name := range slices.Sorted(maps.Keys(s.Functions)) {
				ctx := filepath.Join(dir, "build", name)
				if err := Shrinkwrap(root, templateDir, tt.copy, s.Functions[name].Handler, ctx); err != nil {
					t.Fatalf("shrinkwrap %s: %v", name, err)
				}
				digest, err := ContextDigest(stage, ctx)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", name, err))
					continue
				}
				if groups[digest] == nil {
					order = append(order, digest)
				}
				groups[digest] = append(groups[digest], name)
			}
			for n, digest := range order {
				names := groups[digest]
				work := filepath.Join(dir, fmt.Sprintf("src%d", n))
				if err := runStage(t, stage, filepath.Join(dir, "build", names[0]), work, names[0]); err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", strings.Join(names, ", "), err))
				} else {
					t.Logf("built once for %s", strings.Join(names, ", "))
				}
			}
			if tt.wantErr == "" {
				for _, e := range errs {
					t.Error(e)
				}
				if len(order) == 0 {
					t.Error("no entry built")
				}
				return
			}
			if len(errs) != len(s.Functions) {
				t.Errorf("%d of %d entries failed, want all: %v", len(errs), len(s.Functions), errs)
			}
			for _, e := range errs {
				if !strings.Contains(e, tt.wantErr) {
					t.Errorf("failure %q, want it to contain %q", e, tt.wantErr)
				}
			}
		})
	}
}

// runStage runs a build stage's instructions with work as its WORKDIR and
// context as its build context, for the function named by FUNCTION.
func runStage(t *testing.T, stage Stage, context, work, function string) error {
	t.Helper()
	out := filepath.Join(filepath.Dir(work), filepath.Base(work)+"-out")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	env := map[string]string{
		// The build args, as the Dockerfile's ARG lines declare them.
		"FUNCTION": function, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
		// Offline: modules come from the module cache only.
		"GOPROXY": "off",
		"GOFLAGS": "",
		"OUT":     out,
		"PATH":    filepath.Join(strings.TrimSpace(string(goroot)), "bin") + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	used := make([]bool, len(mirror))
	for _, in := range stage.Instructions {
		switch in.Keyword {
		case "ARG", "WORKDIR":
		case "ENV":
			for _, kv := range strings.Fields(in.Args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("ENV %s: only the key=value form is mirrored", in.Args)
				}
				env[k] = strings.Trim(v, `"`)
			}
		case "COPY":
			c, err := ParseCopy(in.Args)
			if err != nil {
				return err
			}
			if c.From != "" {
				return fmt.Errorf("COPY %s: the build stage copies from another stage, which this test cannot mirror", in.Args)
			}
			for _, src := range c.Sources {
				from := filepath.Join(context, filepath.FromSlash(src))
				st, err := os.Stat(from)
				if err != nil {
					return fmt.Errorf("COPY %s: %s is not in the build context", in.Args, src)
				}
				to := filepath.Join(work, filepath.FromSlash(c.Dest))
				if !st.IsDir() && (strings.HasSuffix(c.Dest, "/") || len(c.Sources) > 1) {
					to = filepath.Join(to, filepath.Base(src))
				}
				if err := copyTree(from, to); err != nil {
					return err
				}
			}
		case "RUN":
			// RUN flags (--mount=type=cache for the module and build
			// caches) need no mirror: the caches are the machine's own.
			script := in.Args
			for strings.HasPrefix(script, "--") {
				_, script, _ = strings.Cut(script, " ")
				script = strings.TrimSpace(script)
			}
			for i, m := range mirror {
				if strings.Contains(script, m.old) {
					script, used[i] = strings.ReplaceAll(script, m.old, m.new), true
				}
			}
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = work
			cmd.Env = os.Environ()
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("RUN %s: %v\n%s", in.Args, err, b)
			}
		default:
			return fmt.Errorf("%s in the build stage: not mirrored by this test", in.Keyword)
		}
	}
	for i, m := range mirror {
		if !used[i] {
			return fmt.Errorf("no RUN line holds %q (%s): update this test's mirror with the Dockerfile", m.old, m.why)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "handler")); err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("the build stage wrote no handler: %v", err)
	}
	return nil
}
