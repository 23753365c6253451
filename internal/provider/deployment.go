package provider

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/internal/gateway"
)

// spec is what the provider runs for a deployment.
type spec struct {
	function string            // the module's function the replicas serve
	env      []string          // the replicas' environment
	shown    map[string]string // what describe lists of it: the deployment's settings as the replicas get them
	min, max int
	inflight int // calls one replica holds at most
	idle     time.Duration
}

// parse checks a deployment and derives its spec, naming every problem at
// once.
func (p *Provider) parse(d types.FunctionDeployment) (spec, error) {
	var errs []string
	if !gateway.ValidName(d.Service) {
		errs = append(errs, fmt.Sprintf("service %q is not a DNS label (lowercase letters, digits, '-')", d.Service))
	}
	if d.Namespace != "" && d.Namespace != Namespace {
		errs = append(errs, fmt.Sprintf("namespace %q: this provider has only %s", d.Namespace, Namespace))
	}
	s := spec{function: functionOf(d), min: DefaultScaleMin, max: DefaultScaleMax, inflight: DefaultMaxInflight, idle: p.cfg.IdleTimeout}
	switch {
	case !slices.Contains(p.cfg.Functions, s.function):
		errs = append(errs, fmt.Sprintf("image %q (FUNCTION=%q) names no function of this module (known: %s)",
			d.Image, d.EnvVars[EnvFunction], strings.Join(p.cfg.Functions, ", ")))
	case s.function != d.Service:
		// The connector signs each call with the function's name, which the
		// function checks: the service must carry it.
		errs = append(errs, fmt.Sprintf("service %q runs function %q: deploy it under the function's name", d.Service, s.function))
	}
	refused := refusals(d.EnvVars)
	slices.Sort(refused)
	errs = append(errs, refused...)
	for _, name := range d.Secrets {
		if !validSecretName(name) {
			errs = append(errs, fmt.Sprintf("secret name %q is not valid", name))
		}
	}
	var labels map[string]string
	if d.Labels != nil {
		labels = *d.Labels
	}
	intSetting := func(what, v string, def, low int) int {
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < low {
			errs = append(errs, fmt.Sprintf("%s=%q: want a whole number of at least %d", what, v, low))
			return def
		}
		return n
	}
	s.min = intSetting(LabelScaleMin, labels[LabelScaleMin], DefaultScaleMin, 0)
	s.max = intSetting(LabelScaleMax, labels[LabelScaleMax], DefaultScaleMax, 1)
	if s.min > s.max {
		errs = append(errs, fmt.Sprintf("%s %d is above %s %d", LabelScaleMin, s.min, LabelScaleMax, s.max))
	}
	s.inflight = intSetting(EnvMaxInflight, d.EnvVars[EnvMaxInflight], DefaultMaxInflight, 1)
	if v := labels[LabelIdle]; v != "" {
		idle, err := time.ParseDuration(v)
		if err != nil || idle <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive duration such as 5m", LabelIdle, v))
		}
		s.idle = cmp.Or(idle, s.idle)
	}
	if len(errs) > 0 {
		return spec{}, badRequest("deploy %s: %s", d.Service, strings.Join(errs, "; "))
	}
	s.env, s.shown = p.environment(d)
	return s, nil
}

// functionOf is the module's function a deployment names: its FUNCTION
// setting, else its image's name without registry, path or tag.
func functionOf(d types.FunctionDeployment) string {
	if f := strings.TrimSpace(d.EnvVars[EnvFunction]); f != "" {
		return f
	}
	name := path.Base(d.Image)
	name, _, _ = strings.Cut(name, "@")
	name, _, _ = strings.Cut(name, ":")
	return name
}

// environment is a replica's environment: the deployment's settings, less
// the dropped ones, with files under SecretsMount pointed at the function's
// folder of secrets; then the platform's settings; then FUNCTION and the
// port. PATH, HOME and TMPDIR come from the provider's own environment, as
// a container has its image's. shown is the same less PATH, HOME, TMPDIR
// and the port, passwords in URLs hidden: what describe lists.
func (p *Provider) environment(d types.FunctionDeployment) (out []string, shown map[string]string) {
	mount := p.mountDir(d.Service) + string(filepath.Separator)
	env := map[string]string{}
	for k, v := range d.EnvVars {
		if slices.ContainsFunc(p.cfg.DropEnv, func(prefix string) bool { return strings.HasPrefix(k, prefix) }) {
			continue
		}
		if rest, ok := strings.CutPrefix(v, SecretsMount); ok {
			v = mount + rest
		}
		env[k] = v
	}
	for k, v := range p.cfg.Env {
		env[k] = v
	}
	if p.cfg.FunctionEnv != nil {
		for k, v := range p.cfg.FunctionEnv(functionOf(d)) {
			env[k] = v
		}
	}
	env[EnvFunction] = functionOf(d)
	shown = make(map[string]string, len(env))
	for k, v := range env {
		shown[k] = redacted(k, v)
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	env[envPort] = "0"
	out = make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, shown
}

// mountDir is the folder where a function finds its secrets.
func (p *Provider) mountDir(service string) string {
	return filepath.Join(p.cfg.DataDir, "mounts", service)
}

// mount makes a function's folder of secrets: a link to each secret it
// names, created later or now. A secret that does not exist yet is absent
// from the function's view until it is created, as a missing optional
// secret is on OpenFaaS.
func (p *Provider) mount(service string, secrets []string) error {
	dir := p.mountDir(service)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("mount secrets of %s: %w", service, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mount secrets of %s: %w", service, err)
	}
	for _, name := range secrets {
		if err := os.Symlink(p.secrets.path(name), filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("mount secret %s of %s: %w", name, service, err)
		}
	}
	return nil
}
