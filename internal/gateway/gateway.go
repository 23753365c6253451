// Package gateway is an OpenFaaS-compatible gateway for the one-machine
// system: it serves in-process function handlers at /function/<name> and
// lists them at /system/functions with their annotations, in the real
// gateway's JSON, so that faas-cli (list, describe, invoke) and
// connector-sdk's FunctionLookupBuilder work against it unchanged. It writes
// the real gateway's Prometheus metrics at /metrics. With ServeAsync it
// serves asynchronous calls at /async-function/<name> through JetStream
// (async.go), as faas-cli invoke --async expects.
//
// By itself it deploys nothing: the functions are fixed at New, one replica
// each, in namespace openfaas-fn. With Config.Provider it serves the
// provider API of package provider instead (deploy, remove, scale, secrets,
// logs, replica counts), its functions' handlers proxying to what that
// provider runs. A request to an unknown function gets
// 404; a handler's panic gets 500 and is logged; the gateway itself never
// retries.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Fixed facts the gateway reports.
const (
	// Namespace is the one function namespace, as on OpenFaaS.
	Namespace = "openfaas-fn"
	// ProviderName is reported by /system/info.
	ProviderName = "caliopen-local"
	// Orchestration is reported by /system/info.
	Orchestration = "in-process"
	// DefaultMaxBodyBytes bounds an invocation's request body by default.
	DefaultMaxBodyBytes int64 = 10 << 20
)

// Config configures the gateway. The zero value is usable.
type Config struct {
	// MaxBodyBytes bounds an invocation's request body; the function sees a
	// read error past it. Default DefaultMaxBodyBytes (10 MiB).
	MaxBodyBytes int64
	// BasicAuth, when set, protects /system/* as the real gateway does.
	// Default nil: no authentication.
	BasicAuth *auth.BasicAuthCredentials
	// Version is the release reported by /system/info. Default "dev".
	Version string
	// WKDFunction, when set, names the function that serves the hosted
	// Web Key Directory: the gateway passes it GET
	// /.well-known/openpgpkey/... unchanged, at the path OpenPGP clients
	// ask (the local system names api). Default "": no such route.
	WKDFunction string
	// Provider, when set, serves the OpenFaaS provider API in place of the
	// gateway's fixed list: deploy, update, remove, list and describe,
	// scale, secrets, logs, info and namespaces (package provider). The
	// functions' handlers then proxy to what it runs, and the replica count
	// (gateway_service_count) is its to report. Default nil: the functions
	// are fixed at New, one replica each.
	Provider *types.FaaSHandlers
}

// Function is one function the gateway serves.
type Function struct {
	// Name is the function's name, a DNS label (lowercase letters, digits, '-').
	Name string
	// Handler serves the function's requests, with /function/<name> stripped
	// from the path.
	Handler http.Handler
	// Annotations are listed by /system/functions; connector-sdk reads the
	// "topic" annotation (comma-separated subjects).
	Annotations map[string]string
	// Labels are listed by /system/functions.
	Labels map[string]string
}

// Gateway is the gateway's http.Handler.
type Gateway struct {
	cfg     Config
	fns     map[string]*served
	names   []string // sorted
	metrics *metrics
	logger  *slog.Logger
	created time.Time
	mux     *http.ServeMux
	async   asyncState
}

// served is one function and its invocation count.
type served struct {
	fn          Function
	invocations atomic.Uint64
}

var _ http.Handler = (*Gateway)(nil)

// New builds a gateway serving fns. Metrics are registered on reg, which
// /metrics serves when it is also a prometheus.Gatherer (a
// *prometheus.Registry); a nil reg gets a private registry. It reports every
// problem with cfg and fns at once.
func New(cfg Config, fns []Function, reg prometheus.Registerer, logger *slog.Logger) (*Gateway, error) {
	var errs []error
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d is negative", cfg.MaxBodyBytes))
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.BasicAuth != nil && (cfg.BasicAuth.User == "" || cfg.BasicAuth.Password == "") {
		errs = append(errs, errors.New("basic auth needs a user and a password"))
	}
	g := &Gateway{cfg: cfg, fns: map[string]*served{}, logger: logger, created: time.Now().UTC()}
	for i, fn := range fns {
		switch {
		case !ValidName(fn.Name):
			errs = append(errs, fmt.Errorf("function %d: name %q is not a DNS label", i, fn.Name))
		case g.fns[fn.Name] != nil:
			errs = append(errs, fmt.Errorf("function %q is listed twice", fn.Name))
		case fn.Handler == nil:
			errs = append(errs, fmt.Errorf("function %q has no handler", fn.Name))
		default:
			fn.Annotations, fn.Labels = maps.Clone(fn.Annotations), maps.Clone(fn.Labels)
			g.fns[fn.Name] = &served{fn: fn}
		}
	}
	g.names = slices.Sorted(maps.Keys(g.fns))
	if cfg.WKDFunction != "" && g.fns[cfg.WKDFunction] == nil {
		errs = append(errs, fmt.Errorf("wkd function %q is not listed", cfg.WKDFunction))
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	gatherer, ok := reg.(prometheus.Gatherer)
	if !ok {
		errs = append(errs, errors.New("metrics registerer is not a gatherer: pass a *prometheus.Registry"))
	}
	m, err := newMetrics(reg, cfg.Provider == nil)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g.metrics = m
	if m.serviceCount != nil {
		for _, name := range g.names {
			m.serviceCount.WithLabelValues(qualified(name)).Set(1)
		}
	}
	g.mux = g.routes(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	return g, nil
}

// routes maps the gateway's paths.
func (g *Gateway) routes(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	if p := g.cfg.Provider; p != nil {
		g.providerRoutes(mux, p)
	} else {
		mux.Handle("GET /system/functions", g.system(g.listFunctions))
		mux.Handle("GET /system/function/{name}", g.system(g.describeFunction))
		mux.Handle("GET /system/namespaces", g.system(g.listNamespaces))
		mux.Handle("GET /system/info", g.system(g.info))
	}
	mux.Handle("/system/namespace/{name...}", g.system(g.namespace))
	mux.HandleFunc("/function/{name}", g.invoke)
	mux.HandleFunc("/function/{name}/{rest...}", g.invoke)
	mux.HandleFunc("POST /async-function/{name}", g.acceptAsync)
	mux.HandleFunc("POST /async-function/{name}/{rest...}", g.acceptAsync)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	})
	mux.Handle("GET /metrics", metrics)
	if g.cfg.WKDFunction != "" {
		mux.HandleFunc("GET /.well-known/openpgpkey/{path...}", func(w http.ResponseWriter, r *http.Request) {
			r.SetPathValue("name", g.cfg.WKDFunction)
			r.SetPathValue("rest", ".well-known/openpgpkey/"+r.PathValue("path"))
			g.invoke(w, r)
		})
	}
	return mux
}

// providerRoutes maps the provider API's paths, as faas-provider's
// bootstrap does, to p's handlers.
func (g *Gateway) providerRoutes(mux *http.ServeMux, p *types.FaaSHandlers) {
	mux.Handle("GET /system/functions", g.system(p.FunctionReader))
	mux.Handle("POST /system/functions", g.system(p.DeployHandler))
	mux.Handle("PUT /system/functions", g.system(p.UpdateHandler))
	mux.Handle("DELETE /system/functions", g.system(p.DeleteHandler))
	mux.Handle("GET /system/function/{name}", g.system(p.ReplicaReader))
	mux.Handle("POST /system/scale-function/{name}", g.system(p.ReplicaUpdater))
	mux.Handle("/system/secrets", g.system(p.SecretHandler))
	mux.Handle("GET /system/logs", g.system(p.LogHandler))
	mux.Handle("GET /system/namespaces", g.system(p.ListNamespaceHandler))
	mux.Handle("GET /system/info", g.system(p.InfoHandler))
}

// ServeHTTP routes one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) { g.mux.ServeHTTP(w, r) }

// system guards a /system/* handler with basic auth when configured.
func (g *Gateway) system(h http.HandlerFunc) http.Handler {
	if g.cfg.BasicAuth == nil {
		return h
	}
	return auth.DecorateWithBasicAuth(h, g.cfg.BasicAuth)
}

// lookup resolves "name" or "name.openfaas-fn" to a served function.
func (g *Gateway) lookup(name string) (*served, bool) {
	if base, ns, found := strings.Cut(name, "."); found {
		if ns != Namespace {
			return nil, false
		}
		name = base
	}
	s, ok := g.fns[name]
	return s, ok
}

// qualified is the name the real gateway writes in metrics: name.namespace.
func qualified(name string) string { return name + "." + Namespace }

// ValidName says whether s is a DNS-1123 label, as OpenFaaS function names are.
func ValidName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
