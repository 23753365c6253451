package deploy

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is the part of an OpenFaaS template.yml that decides the layout
// of a build context.
type Template struct {
	Language string `yaml:"language"`
	FProcess string `yaml:"fprocess"`
	// HandlerFolder is where, inside the build context, faas-cli puts the
	// handler's files and the stack's configuration.copy paths; empty means
	// "function".
	HandlerFolder string `yaml:"handler_folder"`
}

// ReadTemplate reads dir/template.yml.
func ReadTemplate(dir string) (Template, error) {
	var t Template
	data, err := os.ReadFile(filepath.Join(dir, "template.yml"))
	if err != nil {
		return t, err
	}
	if err := yaml.Unmarshal(data, &t); err != nil {
		return t, fmt.Errorf("template.yml: %w", err)
	}
	return t, nil
}

// Shrinkwrap writes into dst the build context that "faas-cli build
// --shrinkwrap" writes into build/<function>/ for one stack entry, run from
// root: the template folder's files at the top, the entries of the
// function's handler folder (except "build" and "template") in the
// template's handler folder, then every configuration.copy path at the same
// relative path under the handler folder. Nothing else of root is copied.
// This follows the OpenFaaS go-sdk's builder.CreateBuildContext.
func Shrinkwrap(root, templateDir string, copyPaths []string, handler, dst string) error {
	t, err := ReadTemplate(templateDir)
	if err != nil {
		return err
	}
	overlay := t.HandlerFolder
	if overlay == "" {
		overlay = "function"
	}
	handlerDst := filepath.Join(dst, filepath.FromSlash(overlay))
	if err := os.MkdirAll(handlerDst, 0o755); err != nil {
		return err
	}
	if err := copyTree(templateDir, dst); err != nil {
		return fmt.Errorf("copy template: %w", err)
	}
	src := filepath.Join(root, filepath.FromSlash(handler))
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("handler %s: %w", handler, err)
	}
	for _, e := range entries {
		if e.Name() == "build" || e.Name() == "template" {
			continue
		}
		if err := copyTree(filepath.Join(src, e.Name()), filepath.Join(handlerDst, e.Name())); err != nil {
			return fmt.Errorf("handler %s: %w", handler, err)
		}
	}
	for _, p := range copyPaths {
		clean := path.Clean(filepath.ToSlash(p))
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("copy path %q is outside the stack's folder", p)
		}
		if err := copyTree(filepath.Join(root, filepath.FromSlash(clean)), filepath.Join(handlerDst, filepath.FromSlash(clean))); err != nil {
			return fmt.Errorf("copy path %s: %w", p, err)
		}
	}
	return nil
}

// copyTree copies a file, or a folder recursively, keeping file modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(name string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, name)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := os.Stat(name)
		if err != nil {
			return err
		}
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return copyFile(name, target, info.Mode().Perm())
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Instruction is one Dockerfile instruction: its keyword, upper case, and
// the rest of its logical line, continuation lines joined.
type Instruction struct {
	Keyword string
	Args    string
}

// Stage is one build stage of a Dockerfile.
type Stage struct {
	// Name is the stage's "AS" name; empty when it has none.
	Name         string
	Instructions []Instruction
}

// ParseDockerfile splits a Dockerfile into its stages. Instructions before
// the first FROM (global ARGs) are dropped; comments and blank lines too.
func ParseDockerfile(data []byte) ([]Stage, error) {
	var stages []Stage
	var logical strings.Builder
	flush := func() error {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return nil
		}
		kw, args, _ := strings.Cut(line, " ")
		in := Instruction{Keyword: strings.ToUpper(kw), Args: strings.TrimSpace(args)}
		if in.Keyword == "FROM" {
			f := strings.Fields(in.Args)
			var name string
			if n := len(f); n >= 3 && strings.EqualFold(f[n-2], "AS") {
				name = f[n-1]
			}
			stages = append(stages, Stage{Name: name})
			return nil
		}
		if len(stages) == 0 {
			if in.Keyword == "ARG" {
				return nil
			}
			return fmt.Errorf("%s before the first FROM", in.Keyword)
		}
		s := &stages[len(stages)-1]
		s.Instructions = append(s.Instructions, in)
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(cont)
			logical.WriteByte(' ')
			continue
		}
		logical.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return stages, nil
}

// Copy is a COPY or ADD instruction's operands.
type Copy struct {
	// From is the --from stage or image; empty for the build context.
	From    string
	Sources []string
	Dest    string
}

// ParseCopy reads a COPY instruction's arguments (shell form).
func ParseCopy(args string) (Copy, error) {
	var c Copy
	var operands []string
	for _, f := range strings.Fields(args) {
		if v, ok := strings.CutPrefix(f, "--from="); ok {
			c.From = v
			continue
		}
		if strings.HasPrefix(f, "--") {
			continue
		}
		operands = append(operands, f)
	}
	if len(operands) < 2 {
		return c, fmt.Errorf("COPY %s: want sources and a destination", args)
	}
	c.Sources, c.Dest = operands[:len(operands)-1], operands[len(operands)-1]
	return c, nil
}

// ContextDigest hashes what a stage's COPY instructions take from a build
// context (the relative paths, modes and contents of every file they
// name), so that two contexts that give a stage the same input are built
// once. A source missing from the context is an error, as in a build.
func ContextDigest(stage Stage, context string) (string, error) {
	h := sha256.New()
	for _, in := range stage.Instructions {
		if in.Keyword != "COPY" && in.Keyword != "ADD" {
			continue
		}
		c, err := ParseCopy(in.Args)
		if err != nil {
			return "", err
		}
		if c.From != "" {
			continue
		}
		for _, src := range c.Sources {
			base := filepath.Join(context, filepath.FromSlash(src))
			if _, err := os.Stat(base); err != nil {
				return "", fmt.Errorf("%s %s: %s is not in the build context", in.Keyword, in.Args, src)
			}
			var files []string
			err := filepath.WalkDir(base, func(name string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					files = append(files, name)
				}
				return err
			})
			if err != nil {
				return "", err
			}
			slices.Sort(files)
			for _, f := range files {
				rel, _ := filepath.Rel(context, f)
				info, err := os.Stat(f)
				if err != nil {
					return "", err
				}
				data, err := os.ReadFile(f)
				if err != nil {
					return "", err
				}
				sum := sha256.Sum256(data)
				fmt.Fprintf(h, "%s %o %x\n", filepath.ToSlash(rel), info.Mode().Perm(), sum)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
