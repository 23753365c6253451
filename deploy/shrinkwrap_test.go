package deploy

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// buildStage is the template Dockerfile's stage that checks and compiles
// the module; the others only assemble images from it.
const buildStage = "build"

// TestShrinkwrapBuild builds each stack entry from exactly what "faas-cli
// build --shrinkwrap" puts in its build context: the template, the
// handler's files and stack.yml's configuration.copy paths, nothing else of
// the repository. It runs the template Dockerfile's build stage there as
// the Dockerfile writes it: its COPY instructions, then each RUN line,
// unchanged, with sh, offline from the module cache, in an environment
// holding only the stage's ARG and ENV values (the gofmt check, the
// in-image go test run, go build of the handler). The files the other
// stages copy from the build stage must exist after it. Entries whose
// stage input (the files its COPY lines take and the build args it
// declares) is the same are built once, as a builder's layer cache does.
func TestShrinkwrapBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("tests and compiles the module in a copy of it")
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
	outputs, err := stageOutputs(stages, buildStage)
	if err != nil {
		t.Fatal(err)
	}
	if len(outputs) == 0 {
		t.Fatalf("no stage copies anything from %q", buildStage)
	}
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
			type group struct {
				names []string
				args  map[string]string
			}
			groups := map[string]*group{} // stage input -> functions
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
				args := buildArgs(stage, s.Functions[name].BuildArgs)
				key := digest
				for _, k := range slices.Sorted(maps.Keys(args)) {
					key += "\x00" + k + "=" + args[k]
				}
				if groups[key] == nil {
					groups[key] = &group{args: args}
					order = append(order, key)
				}
				groups[key].names = append(groups[key].names, name)
			}
			for n, key := range order {
				g := groups[key]
				work := filepath.Join(dir, fmt.Sprintf("stage%d", n))
				if err := runStage(stage, g.args, filepath.Join(dir, "build", g.names[0]), work, outputs); err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", strings.Join(g.names, ", "), err))
				} else {
					t.Logf("build stage run once for %s", strings.Join(g.names, ", "))
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

// buildArgs gives the build args a stage declares with ARG the values a
// build of one stack entry passes: the entry's build_args, the platform's
// TARGETOS and TARGETARCH, GOPROXY=off (offline: modules come from the
// machine's module cache, as a builder's cache mount holds them), or else
// the ARG line's default. An ARG without value or default is left unset.
func buildArgs(stage Stage, entry map[string]string) map[string]string {
	given := map[string]string{
		"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
		"TARGETPLATFORM": runtime.GOOS + "/" + runtime.GOARCH,
		"BUILDPLATFORM":  runtime.GOOS + "/" + runtime.GOARCH,
		"GOPROXY":        "off",
	}
	maps.Copy(given, entry)
	args := map[string]string{}
	for _, in := range stage.Instructions {
		if in.Keyword != "ARG" {
			continue
		}
		name, def, hasDefault := strings.Cut(in.Args, "=")
		if v, ok := given[name]; ok {
			args[name] = v
		} else if hasDefault {
			args[name] = strings.Trim(def, `"`)
		}
	}
	return args
}

// stageOutputs lists the paths other stages copy from stage (COPY
// --from=stage), as absolute paths inside it.
func stageOutputs(stages []Stage, stage string) ([]string, error) {
	var out []string
	for _, s := range stages {
		for _, in := range s.Instructions {
			if in.Keyword != "COPY" {
				continue
			}
			c, err := ParseCopy(in.Args)
			if err != nil {
				return nil, err
			}
			if c.From == stage {
				out = append(out, c.Sources...)
			}
		}
	}
	return out, nil
}

// runStage runs a build stage's instructions with work standing for its
// WORKDIR and context as its build context. The shell of every RUN line
// sees the stage's ARG values (args) and ENV values, and of the machine
// only what stands for the base image and the cache mounts: PATH to the
// Go toolchain and the system's tools, a HOME of its own, and the
// machine's Go build and module caches. outputs are the files other stages
// copy from this one; each must be in WORKDIR and exist after the run.
func runStage(stage Stage, args map[string]string, context, work string, outputs []string) error {
	goenv, err := exec.Command("go", "env", "GOROOT", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		return fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(goenv)), "\n")
	if len(lines) != 3 {
		return fmt.Errorf("go env printed %q", goenv)
	}
	home := filepath.Join(filepath.Dir(work), filepath.Base(work)+"-home")
	for _, d := range []string{work, home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	env := map[string]string{
		"PATH":       filepath.Join(lines[0], "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":       home,
		"GOCACHE":    lines[1],
		"GOMODCACHE": lines[2],
	}
	maps.Copy(env, args)
	workdir := "/"
	for _, in := range stage.Instructions {
		switch in.Keyword {
		case "ARG":
		case "WORKDIR":
			workdir = path.Join(workdir, in.Args)
		case "ENV":
			for _, kv := range strings.Fields(in.Args) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || strings.Contains(v, "$") {
					return fmt.Errorf("ENV %s: only the key=value form without substitutions is followed", in.Args)
				}
				env[k] = strings.Trim(v, `"`)
			}
		case "COPY":
			c, err := ParseCopy(in.Args)
			if err != nil {
				return err
			}
			if c.From != "" {
				return fmt.Errorf("COPY %s: the build stage copies from another stage, which this test cannot follow", in.Args)
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
			script := in.Args
			for strings.HasPrefix(script, "--") {
				var flag string
				flag, script, _ = strings.Cut(script, " ")
				script = strings.TrimSpace(script)
				// A cache mount keeps a folder between builds: here the
				// machine's own Go caches, which env names.
				if !strings.HasPrefix(flag, "--mount=type=cache,") {
					return fmt.Errorf("RUN %s: flag %s is not followed by this test", in.Args, flag)
				}
			}
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = work
			cmd.Env = nil
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("RUN %s: %v\n%s", in.Args, err, b)
			}
		default:
			return fmt.Errorf("%s in the build stage: not followed by this test", in.Keyword)
		}
	}
	for _, o := range outputs {
		rel, ok := strings.CutPrefix(o, workdir+"/")
		if !ok {
			return fmt.Errorf("the build stage's output %s is outside its WORKDIR %s: this test cannot follow it", o, workdir)
		}
		if st, err := os.Stat(filepath.Join(work, filepath.FromSlash(rel))); err != nil || !st.Mode().IsRegular() {
			return fmt.Errorf("the build stage wrote no %s: %v", o, err)
		}
	}
	return nil
}
