package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestTemplateLink: faas-cli reads ./template/<lang>; the repository holds
// that link to templates/, so no document may tell the reader to make it
// (doing so creates templates/templates, a loop).
func TestTemplateLink(t *testing.T) {
	root := moduleRoot(t)
	if target, err := os.Readlink(filepath.Join(root, "template")); err != nil || target != "templates" {
		t.Errorf("template is not a link to templates: %q, %v", target, err)
	}
	docs := []string{"README.md", "HACKING.md", "stack.yml", filepath.Join("templates", Lang, "README.md")}
	more, _ := filepath.Glob(filepath.Join(root, "infra", "*", "README.md"))
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		docs = append(docs, rel)
	}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "ln -s templates template") {
			t.Errorf("%s tells to link templates to template, which the repository already has", d)
		}
	}
}

// fencedBlocks returns the fenced code blocks of a Markdown text whose info
// string is lang.
func fencedBlocks(md, lang string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?ms)^```"+regexp.QuoteMeta(lang)+"\n(.*?)^```").FindAllStringSubmatch(md, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestTemplateReadme checks the template's README against what it
// describes: the handler's port and its variable, the configuration.copy
// block against stack.yml, and in its faas-cli and docker commands every
// file, build argument and function they name. (The commands themselves
// need Docker and a registry, which the tests do not have.)
func TestTemplateReadme(t *testing.T) {
	root := moduleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "templates", Lang, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	dockerfile, err := os.ReadFile(filepath.Join(root, "templates", Lang, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	up := regexp.MustCompile(`upstream_url="http://127\.0\.0\.1:(\d+)"`).FindStringSubmatch(string(dockerfile))
	if up == nil {
		t.Fatal("the Dockerfile sets no upstream_url")
	}
	if want := "serves it on port " + up[1] + " (env `FUNCTION_PORT`)"; !strings.Contains(md, want) {
		t.Errorf("the README does not say %q", want)
	}
	if strings.Contains(md, "(env `port`)") {
		t.Error("the README names `port` as the handler's variable; `port` is the watchdog's")
	}

	s, err := ReadStack(filepath.Join(root, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	yamls := fencedBlocks(md, "yaml")
	if len(yamls) != 1 {
		t.Fatalf("%d yaml blocks, want the configuration.copy one", len(yamls))
	}
	var cfg struct {
		Configuration struct {
			Copy []string `yaml:"copy"`
		} `yaml:"configuration"`
	}
	if err := yaml.Unmarshal([]byte(yamls[0]), &cfg); err != nil || !slices.Equal(cfg.Configuration.Copy, s.Configuration.Copy) {
		t.Errorf("the README's configuration.copy %v (%v), stack.yml's %v", cfg.Configuration.Copy, err, s.Configuration.Copy)
	}

	args := regexp.MustCompile(`(?m)^ARG (\w+)`).FindAllStringSubmatch(string(dockerfile), -1)
	commands := 0
	for _, block := range fencedBlocks(md, "sh") {
		for _, cmd := range strings.Split(strings.ReplaceAll(block, "\\\n", " "), "\n") {
			cmd, _, _ = strings.Cut(cmd, "#")
			f := strings.Fields(cmd)
			if len(f) == 0 || (f[0] != "faas-cli" && f[0] != "docker") {
				continue
			}
			commands++
			for i := 1; i < len(f)-1; i++ {
				switch v := f[i+1]; f[i] {
				case "-f":
					if _, err := os.Stat(filepath.Join(root, v)); err != nil {
						t.Errorf("%q: no file %s", cmd, v)
					}
				case "--filter":
					if _, ok := s.Functions[v]; !ok {
						t.Errorf("%q: stack.yml has no function %s", cmd, v)
					}
				case "--build-arg":
					name, _, _ := strings.Cut(v, "=")
					if !slices.ContainsFunc(args, func(a []string) bool { return a[1] == name }) {
						t.Errorf("%q: the Dockerfile has no ARG %s", cmd, name)
					}
				}
			}
		}
	}
	if commands < 5 {
		t.Errorf("found %d faas-cli or docker commands in the README, want its examples", commands)
	}
}
