// Package deploy checks the deployment files (stack.yml, templates/ and
// infra/) against the function registry and the wire contract, so that what
// operators deploy cannot drift from the code.
//
// The checks never stop at the first problem: each returns every problem it
// finds, one error each, naming the function or file concerned. No problem
// means a nil slice.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/caliopen/functions/internal/contract"
)

// Lang is the OpenFaaS template every function is built with.
const Lang = "caliopen-go"

// Annotation and label keys of a stack entry.
const (
	// AnnotationTopic lists the function's subjects, comma-separated, in
	// contract order. The connector binds the function to them.
	AnnotationTopic = "topic"
	// AnnotationQueue is the queue group of the function's subjects.
	AnnotationQueue = "caliopen.queue"
	labelScaleMin   = "com.openfaas.scale.min"
	labelScaleMax   = "com.openfaas.scale.max"
)

// Stack is the part of a faas-cli stack file the checks read. Values are
// kept as written: ${VAR:-default} references are not substituted.
type Stack struct {
	Version       string              `yaml:"version"`
	Provider      Provider            `yaml:"provider"`
	Configuration Configuration       `yaml:"configuration"`
	Functions     map[string]Function `yaml:"functions"`
}

// Provider is the stack's provider block.
type Provider struct {
	Name    string `yaml:"name"`
	Gateway string `yaml:"gateway"`
}

// Configuration is the stack's configuration block.
type Configuration struct {
	// Copy lists the paths faas-cli copies into every build context.
	Copy []string `yaml:"copy"`
}

// Function is one stack entry.
type Function struct {
	Lang      string            `yaml:"lang"`
	Handler   string            `yaml:"handler"`
	Image     string            `yaml:"image"`
	BuildArgs map[string]string `yaml:"build_args"`
	// EnvironmentFile names files (relative to the stack file's folder)
	// whose environment faas-cli merges over Environment, in order.
	EnvironmentFile []string          `yaml:"environment_file"`
	Environment     map[string]string `yaml:"environment"`
	Annotations     map[string]string `yaml:"annotations"`
	Labels          map[string]string `yaml:"labels"`
	Secrets         []string          `yaml:"secrets"`
	Requests        map[string]string `yaml:"requests"`
	Limits          map[string]string `yaml:"limits"`
}

// ParseStack decodes a stack file; fields the checks do not read are ignored.
func ParseStack(data []byte) (*Stack, error) {
	var s Stack
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse stack: %w", err)
	}
	return &s, nil
}

// SharedEnvironmentFile is the environment file every entry names: the
// environment all functions share.
const SharedEnvironmentFile = "stack.env.yml"

// ReadStack reads and decodes the stack file at name and, as faas-cli
// deploy does, each entry's environment files: their environment maps,
// read as they are (faas-cli substitutes no ${VAR} in them), merged in
// order over the entry's own environment, whose values they replace. The
// entries' Environment is then what a deployed function gets.
func ReadStack(name string) (*Stack, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return decodeStack(data, filepath.Dir(name))
}

// decodeStack decodes a stack file as ReadStack does, its environment files
// read from dir.
func decodeStack(data []byte, dir string) (*Stack, error) {
	s, err := ParseStack(data)
	if err != nil {
		return nil, err
	}
	files := map[string]map[string]string{}
	for fn, f := range s.Functions {
		merged := maps.Clone(f.Environment)
		if merged == nil {
			merged = map[string]string{}
		}
		for _, file := range f.EnvironmentFile {
			env, ok := files[file]
			if !ok {
				if env, err = ReadEnvironmentFile(filepath.Join(dir, filepath.FromSlash(file))); err != nil {
					return nil, fmt.Errorf("function %s: environment_file %s: %w", fn, file, err)
				}
				files[file] = env
			}
			maps.Copy(merged, env)
		}
		f.Environment = merged
		s.Functions[fn] = f
	}
	return s, nil
}

// ReadEnvironmentFile reads a faas-cli environment file (a map under
// "environment", nothing else). A ${...} reference is an error: faas-cli
// would pass it on unsubstituted.
func ReadEnvironmentFile(name string) (map[string]string, error) {
	var doc struct {
		Environment map[string]string `yaml:"environment"`
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(doc.Environment)) {
		if strings.Contains(doc.Environment[k], "${") {
			errs = append(errs, fmt.Errorf("%s is %q: faas-cli substitutes no ${...} in an environment file", k, doc.Environment[k]))
		}
	}
	return doc.Environment, errors.Join(errs...)
}

// ImageOf is the image reference a function's entry must carry.
func ImageOf(name string) string {
	return "${REGISTRY:-ghcr.io/caliopen}/" + name + ":${TAG:-dev}"
}

// Binding is what the contract says about one function: the subjects it
// handles and how long a requester waits.
type Binding struct {
	// Topics are the subject names, in contract order.
	Topics []string
	// Queues are the queue groups of those subjects, without repeats.
	Queues []string
	// Deadline is the shortest requester deadline among the function's
	// request/reply subjects; zero when it has none.
	Deadline time.Duration
}

// BindingOf derives a function's binding from the contract.
func BindingOf(c *contract.Contract, function string) Binding {
	var b Binding
	for _, s := range c.SubjectsOf(function) {
		b.Topics = append(b.Topics, s.Name)
		if !slices.Contains(b.Queues, s.Queue) {
			b.Queues = append(b.Queues, s.Queue)
		}
		if s.HasRequests() && s.Deadline > 0 && (b.Deadline == 0 || s.Deadline < b.Deadline) {
			b.Deadline = s.Deadline
		}
	}
	return b
}

// CheckStack checks a parsed stack against the registry (the names of the
// functions that exist) and the contract: the stack lists exactly the
// registry's functions, and each entry is built with the caliopen-go
// template for its own name, announces exactly the contract's subjects and
// queue group, and gives up before the requester does.
func CheckStack(s *Stack, registry []string, c *contract.Contract) []error {
	var errs []error
	if s.Version != "1.0" {
		errs = append(errs, fmt.Errorf("stack version is %q, want %q", s.Version, "1.0"))
	}
	if s.Provider.Name != "openfaas" {
		errs = append(errs, fmt.Errorf("stack provider is %q, want %q", s.Provider.Name, "openfaas"))
	}
	for _, name := range registry {
		if _, ok := s.Functions[name]; !ok {
			errs = append(errs, fmt.Errorf("function %s is in the registry but has no stack entry", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Functions)) {
		if !slices.Contains(registry, name) {
			errs = append(errs, fmt.Errorf("stack entry %s is not a function of the registry", name))
			continue
		}
		errs = append(errs, checkFunction(name, s.Functions[name], BindingOf(c, name))...)
	}
	return errs
}

func checkFunction(name string, f Function, b Binding) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("function %s: "+format, append([]any{name}, args...)...))
	}
	if f.Lang != Lang {
		bad("lang is %q, want %q", f.Lang, Lang)
	}
	if want := "functions/" + name; path.Clean(f.Handler) != want {
		bad("handler is %q, want ./%s", f.Handler, want)
	}
	if want := ImageOf(name); f.Image != want {
		bad("image is %q, want %q", f.Image, want)
	}
	if !slices.Equal(f.EnvironmentFile, []string{SharedEnvironmentFile}) {
		bad("environment_file is %q, want [%s] (the shared environment)", f.EnvironmentFile, SharedEnvironmentFile)
	}
	if got := f.BuildArgs["FUNCTION"]; got != name {
		bad("build_args FUNCTION is %q, want %q", got, name)
	}
	if got := f.Environment["FUNCTION"]; got != name {
		bad("environment FUNCTION is %q, want %q", got, name)
	}
	if _, ok := f.Environment["port"]; ok {
		bad(`environment sets "port", which moves the watchdog off 8080`)
	}
	checkAnnotation := func(key string, want []string) {
		got, ok := f.Annotations[key]
		switch {
		case len(want) == 0 && ok:
			bad("annotation %s is %q, but the contract gives the function no subject", key, got)
		case len(want) > 0 && got != strings.Join(want, ","):
			bad("annotation %s is %q, want %q", key, got, strings.Join(want, ","))
		}
	}
	checkAnnotation(AnnotationTopic, b.Topics)
	checkAnnotation(AnnotationQueue, b.Queues)

	timeouts := map[string]time.Duration{}
	for _, key := range []string{"exec_timeout", "read_timeout", "write_timeout"} {
		v, ok := f.Environment[key]
		if !ok {
			bad("environment %s is missing", key)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad("environment %s is %q, want a positive duration such as 8s", key, v)
			continue
		}
		timeouts[key] = d
	}
	exec, haveExec := timeouts["exec_timeout"]
	if write, ok := timeouts["write_timeout"]; ok && haveExec && write < exec {
		bad("write_timeout %s is below exec_timeout %s", write, exec)
	}
	if haveExec && b.Deadline > 0 && exec >= b.Deadline {
		bad("exec_timeout %s is not below the requester's deadline %s", exec, b.Deadline)
	}

	minScale, minErr := scaleLabel(f.Labels, labelScaleMin)
	maxScale, maxErr := scaleLabel(f.Labels, labelScaleMax)
	for _, err := range []error{minErr, maxErr} {
		if err != nil {
			bad("%v", err)
		}
	}
	if minErr == nil && maxErr == nil && minScale > 0 && maxScale > 0 && minScale > maxScale {
		bad("label %s %d is above %s %d", labelScaleMin, minScale, labelScaleMax, maxScale)
	}
	return errs
}

// scaleLabel reads an optional scaling label; zero when absent.
func scaleLabel(labels map[string]string, key string) (int, error) {
	v, ok := labels[key]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("label %s is %q, want a whole number", key, v)
	}
	return n, nil
}

// Expand substitutes the ${NAME} and ${NAME:-default} references of a stack
// value as faas-cli does when it reads the stack (its envsubst step): the
// variable's value, or the default when it is unset or empty.
func Expand(s string, getenv func(string) string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: unclosed ${", s)
		}
		ref := s[i+2 : i+end]
		name, def, hasDefault := strings.Cut(ref, ":-")
		if name == "" || strings.ContainsAny(name, " :-+?=#%/") {
			return "", fmt.Errorf("%q: ${%s} is not ${NAME} or ${NAME:-default}", s, ref)
		}
		v := getenv(name)
		if v == "" && hasDefault {
			v = def
		}
		b.WriteString(v)
		s = s[i+end+1:]
	}
}
