// Package provider is a small OpenFaaS provider for the one-machine system:
// it implements faas-provider's handler contracts (deploy, update, delete,
// list, status, scale, logs, secrets, namespaces, info, the function proxy)
// and runs each deployed function as OS processes of the function binary
// (cmd/function), in the spirit of faasd with processes instead of
// containers.
//
// A deployment names a function of this module through its FUNCTION
// setting (or, without one, its image's name); its replicas are processes
// started with the deployment's environment, the platform's settings of the
// local system over it, and its secrets as files in the OpenFaaS layout. Each
// replica listens on a port of its own; the proxy sends an invocation to the
// least loaded ready replica.
//
// Scaling follows the deployment's labels: a function at zero replicas is
// started by its first invocation, which waits up to its deadline; a replica
// is added while every ready replica holds its limit of in-flight calls
// (max_inflight), up to com.openfaas.scale.max; a replica idle for the idle
// time (com.openfaas.scale.zero-duration, else Config.IdleTimeout) is
// stopped, down to com.openfaas.scale.min. A stopped replica gets SIGTERM and
// finishes its in-flight calls; a replica that dies is replaced, and the
// calls it held get 502.
package provider

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/internal/gateway"
)

// Facts the provider reports.
const (
	// Namespace is the one function namespace, the gateway's.
	Namespace = gateway.Namespace
	// Name is reported by /system/info.
	Name = "caliopen-local"
	// Orchestration is reported by /system/info.
	Orchestration = "process"
	// SecretsMount is where OpenFaaS mounts a function's secrets; a
	// deployment's settings naming files there are pointed at the
	// function's own folder of secrets.
	SecretsMount = "/var/openfaas/secrets/"
)

// Labels and settings of a deployment read by the provider.
const (
	LabelScaleMin  = "com.openfaas.scale.min"
	LabelScaleMax  = "com.openfaas.scale.max"
	LabelIdle      = "com.openfaas.scale.zero-duration"
	EnvMaxInflight = "max_inflight"
	EnvFunction    = "FUNCTION"
	// envPort is the port cmd/function listens on; the provider sets 0 and
	// reads the port from the replica's "listening" log line.
	envPort = "FUNCTION_PORT"
)

// Defaults of Config and of a deployment's labels.
const (
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultStartTimeout = 30 * time.Second
	DefaultStopGrace    = 30 * time.Second
	DefaultMaxInflight  = 20
	DefaultScaleMin     = 1
	DefaultScaleMax     = 5
)

// Config configures the provider.
type Config struct {
	// Binary is the function binary (cmd/function). Required.
	Binary string
	// Args are passed to Binary before nothing else; cmd/function takes
	// none. Tests use them to run a fake.
	Args []string
	// DataDir holds secrets/ (0700, one 0600 file each), mounts/ (each
	// function's folder of the secrets it names), logs/ (one JSON-lines
	// file per function) and deployments/ (what Saved reads back).
	// Required.
	DataDir string
	// Functions are the functions of this module a deployment may name.
	// Required.
	Functions []string
	// Env is the platform's settings, over the deployment's (NATS_URL,
	// CALIOPEN_STORE_DSN...): the local system's endpoints instead of a
	// cluster's.
	Env map[string]string
	// FunctionEnv, when set, gives the settings of one function of the
	// module, over Env (its own NATS user and password file).
	FunctionEnv func(function string) map[string]string
	// DropEnv are prefixes of settings of a deployment that are not passed
	// on (a cluster's endpoints and their secrets' files, replaced by Env).
	DropEnv []string
	// IdleTimeout is how long a replica may stay idle before it is stopped,
	// down to the function's minimum, unless its labels say otherwise.
	// Default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// StartTimeout bounds a replica's start, and how long an invocation
	// without a deadline waits for one. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// StopGrace is how long a stopped replica may finish its calls before
	// SIGKILL. Default DefaultStopGrace.
	StopGrace time.Duration
	// Echo, when set, receives every line the replicas write, as they
	// write it (the local system's standard error).
	Echo io.Writer
	// Version is the release reported by /system/info. Default "dev".
	Version string
}

// Provider runs the deployed functions. Its methods are safe for concurrent
// use.
type Provider struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	secrets *secretStore
	logs    *logStore
	proxy   *httputil.ReverseProxy

	mu      sync.Mutex
	fns     map[string]*function
	closing bool
	wg      sync.WaitGroup // replicas' goroutines and the reaper
	stop    chan struct{}
}

// New checks cfg and starts the provider's reaper of idle replicas.
// Metrics are registered on reg.
func New(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*Provider, error) {
	var errs []error
	if cfg.Binary == "" {
		errs = append(errs, errors.New("function binary: required"))
	} else if _, err := os.Stat(cfg.Binary); err != nil {
		errs = append(errs, fmt.Errorf("function binary: %w (build it: go build -o bin/ ./cmd/function)", err))
	}
	if cfg.DataDir == "" {
		errs = append(errs, errors.New("data directory: required"))
	}
	if len(cfg.Functions) == 0 {
		errs = append(errs, errors.New("functions: none listed"))
	}
	for name, d := range map[string]time.Duration{"idle timeout": cfg.IdleTimeout, "start timeout": cfg.StartTimeout, "stop grace": cfg.StopGrace} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, d))
		}
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = DefaultStopGrace
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	cfg.Functions = slices.Clone(cfg.Functions)
	cfg.Env = maps.Clone(cfg.Env)
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	for _, dir := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "mounts"), filepath.Join(cfg.DataDir, "logs")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("provider: %w", err)
		}
	}
	secrets, err := newSecretStore(filepath.Join(cfg.DataDir, "secrets"))
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p := &Provider{cfg: cfg, logger: logger, metrics: m, secrets: secrets,
		logs: newLogStore(filepath.Join(cfg.DataDir, "logs")), fns: map[string]*function{}, stop: make(chan struct{})}
	p.proxy = p.newProxy()
	p.wg.Add(1)
	go p.reap()
	return p, nil
}

// Close stops every replica (SIGTERM, then SIGKILL after the stop grace)
// and waits until every process and goroutine of the provider has ended.
func (p *Provider) Close() error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return nil
	}
	p.closing = true
	fns := slices.Collect(maps.Values(p.fns))
	p.mu.Unlock()
	close(p.stop)
	for _, f := range fns {
		f.remove()
	}
	p.wg.Wait()
	p.logs.close()
	return nil
}

// Deploy deploys d, replacing the function's deployment when it exists
// (its replicas are stopped and started anew). The error is a *RequestError
// when d itself is at fault.
func (p *Provider) Deploy(d types.FunctionDeployment) error {
	return p.deploy(d, false)
}

func (p *Provider) deploy(d types.FunctionDeployment, mustExist bool) error {
	s, err := p.parse(d)
	if err != nil {
		return err
	}
	if err := p.mount(d.Service, d.Secrets); err != nil {
		return err
	}
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return errors.New("provider is shutting down")
	}
	old := p.fns[d.Service]
	if mustExist && old == nil {
		p.mu.Unlock()
		return &RequestError{Status: 404, Err: fmt.Errorf("function %s is not deployed", d.Service)}
	}
	if err := p.save(d); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("keep the deployment of %s: %w", d.Service, err)
	}
	created, calls := time.Now().UTC(), new(atomic.Uint64)
	if old != nil {
		created, calls = old.created, old.calls
	}
	f := newFunction(p, d, s, created, calls)
	p.fns[d.Service] = f
	p.mu.Unlock()
	if old != nil {
		old.remove()
	}
	f.ensureMin()
	p.logger.Info("deployed", "fn", d.Service, "image", d.Image, "min", s.min, "max", s.max, "max_inflight", s.inflight)
	return nil
}

// Remove stops a function's replicas and forgets its deployment, for the
// next runs too.
func (p *Provider) Remove(name string) error {
	p.mu.Lock()
	f := p.fns[name]
	if f == nil {
		p.mu.Unlock()
		return &RequestError{Status: 404, Err: fmt.Errorf("function %s is not deployed", name)}
	}
	if err := p.forget(name); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("forget the deployment of %s: %w", name, err)
	}
	delete(p.fns, name)
	p.mu.Unlock()
	f.remove()
	p.metrics.replicas.DeleteLabelValues(qualified(name))
	p.logger.Info("removed", "fn", name)
	return nil
}

// Scale sets a function's replicas now, within its labels' minimum and
// maximum; idle replicas above the minimum are stopped later as usual.
func (p *Provider) Scale(name string, replicas int) error {
	f := p.function(name)
	if f == nil {
		return &RequestError{Status: 404, Err: fmt.Errorf("function %s is not deployed", name)}
	}
	f.scale(replicas)
	return nil
}

// Status describes a deployed function with its replica counts.
func (p *Provider) Status(name string) (types.FunctionStatus, bool) {
	f := p.function(name)
	if f == nil {
		return types.FunctionStatus{}, false
	}
	return f.status(), true
}

// List describes every deployed function, by name.
func (p *Provider) List() []types.FunctionStatus {
	p.mu.Lock()
	fns := slices.SortedFunc(maps.Values(p.fns), func(a, b *function) int { return strings.Compare(a.name, b.name) })
	p.mu.Unlock()
	out := make([]types.FunctionStatus, 0, len(fns))
	for _, f := range fns {
		out = append(out, f.status())
	}
	return out
}

// Instance is one replica of a function as it runs.
type Instance struct {
	ID       string
	PID      int
	Addr     string // host:port, once ready
	Ready    bool
	InFlight int
}

// Instances lists a function's replicas.
func (p *Provider) Instances(name string) []Instance {
	f := p.function(name)
	if f == nil {
		return nil
	}
	return f.instances()
}

// PutSecret creates or replaces a secret; the local system stores its own
// (the invocation key) this way.
func (p *Provider) PutSecret(name string, value []byte) error {
	return p.secrets.put(name, value, upsert)
}

// SecretFile is the file holding a secret, which the replicas mounting it
// read: the local system's connector follows the invocation key there.
func (p *Provider) SecretFile(name string) string { return p.secrets.path(name) }

func (p *Provider) function(name string) *function {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fns[name]
}

// reap stops idle replicas and keeps each function at its minimum.
func (p *Provider) reap() {
	defer p.wg.Done()
	tick := min(max(p.cfg.IdleTimeout/4, 20*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			fns := slices.Collect(maps.Values(p.fns))
			p.mu.Unlock()
			for _, f := range fns {
				f.reapIdle(now)
				f.ensureMin()
			}
		}
	}
}

// RequestError is a deployment request's fault, with the HTTP status that
// says so.
type RequestError struct {
	Status int
	Err    error
}

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: 400, Err: fmt.Errorf(format, args...)}
}

// qualified is the name OpenFaaS writes in metrics: name.namespace.
func qualified(name string) string { return name + "." + Namespace }
