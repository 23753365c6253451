package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/invokeauth"
)

// The files Generate writes, relative to the repository's root. Of
// stack.yml it writes what follows the line "functions:"; of nats.yaml and
// secrets.yaml, the lines between their BEGIN and END markers; the rest of
// these three files is kept as written.
const (
	StackFile          = "stack.yml"
	NATSConfigFile     = "infra/k8s/base/nats.yaml"
	SecretsFile        = "infra/k8s/base/secrets.yaml"
	KnativeFunctions   = "infra/knative/functions.yaml"
	KnativeTopicMap    = "infra/knative/" + TopicMapFile
	GenerateCommand    = "make generate"
	stackFunctionsLine = "functions:\n"
)

// The secrets every function mounts, beside its NATS password
// (NATSSecretOf): the store's DSN and the S3 secret key
// (stack.env.yml's *_FILE variables), and, for a function the connector
// invokes, the invocation key.
const (
	SecretStoreDSN  = "caliopen-store-dsn"
	SecretS3Key     = "caliopen-s3-secret-key"
	SecretInvokeKey = "caliopen-invoke-key"
)

// What every stack entry has unless its registry entry says otherwise.
const (
	defaultMaxInflight = 50
	// defaultTimeout is the exec_timeout of a function no requester
	// waits for.
	defaultTimeout = 10 * time.Second
	// deadlineMargin is how long before its requester's deadline a
	// request/reply function gives up.
	deadlineMargin = 2 * time.Second
	scaleMin       = "1"
	scaleMax       = "5"
)

// The generated parts of nats.yaml and secrets.yaml lie between these
// lines.
const (
	natsUsersBegin     = "    # BEGIN generated users: " + GenerateCommand + "\n"
	natsUsersEnd       = "    # END generated users\n"
	natsPasswordsBegin = "  # BEGIN generated passwords: " + GenerateCommand + "\n"
	natsPasswordsEnd   = "  # END generated passwords\n"
)

const knativeHeader = `# Generated from the function registry (functions/functions.go) and the
# contract by ` + GenerateCommand + `. Do not edit: change the registry and generate again.
`

// Generate returns the generated files of the repository at root (their
// paths relative to it, slash-separated) for the registry specs and the
// contract c: stack.yml's entries, the NATS users of nats.yaml, their
// passwords in secrets.yaml, and infra/knative's Services and topic map.
// It reads the files' hand-kept parts from root.
func Generate(root string, specs []functions.Spec, c *contract.Contract) (map[string][]byte, error) {
	read := func(rel string) (string, error) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		return string(b), err
	}
	out := map[string][]byte{}

	stackText, err := read(StackFile)
	if err != nil {
		return nil, err
	}
	entries, err := StackEntries(specs, c)
	if err != nil {
		return nil, err
	}
	i := strings.Index(stackText, "\n"+stackFunctionsLine)
	if i < 0 {
		return nil, fmt.Errorf("%s: no line %q", StackFile, strings.TrimSpace(stackFunctionsLine))
	}
	stackText = stackText[:i+1+len(stackFunctionsLine)] + entries
	out[StackFile] = []byte(stackText)

	stack, err := decodeStack([]byte(stackText), root)
	if err != nil {
		return nil, fmt.Errorf("generated %s: %w", StackFile, err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	if errs := CheckStack(stack, names, c); len(errs) > 0 {
		return nil, fmt.Errorf("generated %s: %w", StackFile, errors.Join(errs...))
	}

	users, err := NATSUsersOf(c, specs)
	if err != nil {
		return nil, err
	}
	var auth, passwords strings.Builder
	for _, line := range strings.SplitAfter(NATSAuthorization(users), "\n") {
		if line != "" {
			auth.WriteString("    " + line)
		}
	}
	for _, u := range users {
		fmt.Fprintf(&passwords, "  %s: CHANGE-ME\n", u.PasswordEnv())
	}
	for _, g := range []struct{ file, begin, end, text string }{
		{NATSConfigFile, natsUsersBegin, natsUsersEnd, auth.String()},
		{SecretsFile, natsPasswordsBegin, natsPasswordsEnd, passwords.String()},
	} {
		text, err := read(g.file)
		if err != nil {
			return nil, err
		}
		if text, err = replaceBetween(text, g.begin, g.end, g.text); err != nil {
			return nil, fmt.Errorf("%s: %w", g.file, err)
		}
		out[g.file] = []byte(text)
	}

	services, err := KnativeServices(stack, c)
	if err != nil {
		return nil, err
	}
	if out[KnativeFunctions], err = MarshalDocs(knativeHeader+"#\n# The functions as Knative Services in namespace "+
		KnativeNamespace+"; see README.md.\n", services); err != nil {
		return nil, err
	}
	var topics bytes.Buffer
	topics.WriteString(knativeHeader + `#
# The connector's static topic map (CONNECTOR_MODE=static, TOPIC_MAP_FILE):
# the cluster-local URL of each function's Knative Service and the contract's
# subjects it handles.
`)
	enc := yaml.NewEncoder(&topics)
	enc.SetIndent(2)
	if err := enc.Encode(TopicMap(names, c)); err != nil {
		return nil, err
	}
	out[KnativeTopicMap] = topics.Bytes()
	return out, nil
}

// replaceBetween replaces what lies between the lines begin and end of
// text with middle.
func replaceBetween(text, begin, end, middle string) (string, error) {
	i := strings.Index(text, begin)
	j := strings.Index(text, end)
	if i < 0 || j < i || strings.Count(text, begin) != 1 {
		return "", fmt.Errorf("want one line %q, then one %q", strings.TrimSpace(begin), strings.TrimSpace(end))
	}
	return text[:i+len(begin)] + middle + text[j:], nil
}

// StackEntries renders the registry's functions as stack.yml's entries,
// in registry order: what every entry has (the template, the image, the
// shared environment file, the store's secrets, its own NATS user, and the
// invocation key for a function the connector invokes), the contract's
// subjects and queue groups as its annotations, and what its Deploy says.
func StackEntries(specs []functions.Spec, c *contract.Contract) (string, error) {
	var b strings.Builder
	var errs []error
	for i, s := range specs {
		if err := writeEntry(&b, s, c, i == 0); err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", s.Name, err))
		}
	}
	return b.String(), errors.Join(errs...)
}

func writeEntry(b *strings.Builder, s functions.Spec, c *contract.Contract, first bool) error {
	d := s.Deploy
	if s.Orders != (len(s.Outbox) > 0) {
		return fmt.Errorf("orders %v, but %d outbox subjects: set Orders and Outbox both or neither", s.Orders, len(s.Outbox))
	}
	bind := BindingOf(c, s.Name)
	timeout := d.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
		if bind.Deadline > 0 {
			timeout = bind.Deadline - deadlineMargin
		}
	}
	if timeout < time.Second || timeout%time.Second != 0 {
		return fmt.Errorf("timeout %s: want whole seconds", timeout)
	}
	inflight := d.MaxInflight
	if inflight == 0 {
		inflight = defaultMaxInflight
	}
	if inflight < 0 {
		return fmt.Errorf("max inflight %d: want a positive number", inflight)
	}
	var err error
	scalar := func(v string) string {
		if strings.ContainsAny(v, "\n\r") {
			err = fmt.Errorf("value %q spans lines", v)
			return `""`
		}
		out, merr := yaml.Marshal(v)
		if merr != nil {
			err = merr
		}
		return strings.TrimSuffix(string(out), "\n")
	}
	comment := func(indent, text string) {
		if text == "" {
			return
		}
		for _, line := range strings.Split(text, "\n") {
			b.WriteString(strings.TrimRight(indent+"# "+line, " ") + "\n")
		}
	}
	kv := func(indent, k, v string) { fmt.Fprintf(b, "%s%s: %s\n", indent, k, scalar(v)) }
	seconds := func(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }

	if !first {
		b.WriteString("\n")
	}
	comment("  ", d.Comment)
	fmt.Fprintf(b, "  %s:\n", s.Name)
	kv("    ", "lang", Lang)
	kv("    ", "handler", "./functions/"+s.Name)
	kv("    ", "image", ImageOf(s.Name))
	b.WriteString("    build_args:\n")
	kv("      ", "FUNCTION", s.Name)
	b.WriteString("    environment_file:\n      - " + SharedEnvironmentFile + "\n")
	b.WriteString("    environment:\n")
	kv("      ", "FUNCTION", s.Name)
	kv("      ", "exec_timeout", seconds(timeout))
	kv("      ", "read_timeout", seconds(timeout+time.Second))
	kv("      ", "write_timeout", seconds(timeout+time.Second))
	kv("      ", "max_inflight", strconv.Itoa(inflight))
	reserved := map[string]bool{"FUNCTION": true, "exec_timeout": true, "read_timeout": true, "write_timeout": true,
		"max_inflight": true, "port": true, "NATS_USER": true, "NATS_INBOX_PREFIX": true, "NATS_PASSWORD_FILE": true,
		invokeauth.EnvKey + "_FILE": true, invokeauth.EnvInsecure: true}
	for _, e := range d.Env {
		if reserved[e.Name] || e.Name == "" {
			return fmt.Errorf("environment %q: a name the generator sets, or none", e.Name)
		}
		reserved[e.Name] = true
		comment("      ", e.Comment)
		kv("      ", e.Name, e.Value)
	}
	comment("      ", "This function's own NATS user (its registry entry's Sends and Outbox).")
	kv("      ", "NATS_USER", s.Name)
	kv("      ", "NATS_INBOX_PREFIX", InboxPrefixOf(s.Name))
	kv("      ", "NATS_PASSWORD_FILE", SecretsPath+NATSSecretOf(s.Name))
	secrets := []string{SecretStoreDSN, SecretS3Key, NATSSecretOf(s.Name)}
	if s.HTTP == nil {
		comment("      ", "Only calls signed by the connector are served (internal/invokeauth).")
		kv("      ", invokeauth.EnvKey+"_FILE", SecretsPath+SecretInvokeKey)
		secrets = append(secrets, SecretInvokeKey)
	}
	if len(bind.Topics) > 0 {
		b.WriteString("    annotations:\n")
		kv("      ", AnnotationTopic, strings.Join(bind.Topics, ","))
		kv("      ", AnnotationQueue, strings.Join(bind.Queues, ","))
	}
	b.WriteString("    labels:\n")
	kv("      ", labelScaleMin, scaleMin)
	kv("      ", labelScaleMax, scaleMax)
	kv("      ", "com.openfaas.scale.zero", strconv.FormatBool(d.ScaleToZero))
	b.WriteString("    requests:\n      memory: 32Mi\n      cpu: 50m\n")
	b.WriteString("    limits:\n      memory: 128Mi\n      cpu: 500m\n")
	b.WriteString("    secrets:\n")
	for _, sec := range d.Secrets {
		if slices.Contains(secrets, sec) || sec == "" {
			return fmt.Errorf("secret %q: mounted twice, or no name", sec)
		}
		secrets = append(secrets, sec)
	}
	for _, sec := range secrets {
		b.WriteString("      - " + scalar(sec) + "\n")
	}
	return err
}
