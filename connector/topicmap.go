package connector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/openfaas/connector-sdk/types"
	"github.com/openfaas/faas-provider/auth"
	"go.yaml.in/yaml/v3"
)

// Target is one function to invoke for a subject.
type Target struct {
	// Name is the function's name as the gateway lists it (name or name.namespace).
	Name string `yaml:"name"`
	// URL receives the POST.
	URL string `yaml:"url"`
}

// fnKeys returns the log keys naming function name ("name" or
// "name.namespace"): fn is the bare name, as the function's own lines have
// it, so one filter on fn finds both; namespace follows when there is one.
func fnKeys(name string) []any {
	if fn, ns, ok := strings.Cut(name, "."); ok {
		return []any{"fn", fn, "namespace", ns}
	}
	return []any{"fn", name}
}

// TopicMap maps a subject to the functions annotated with it. A value is never
// changed once built; a refresh swaps in a new one.
type TopicMap map[string][]Target

// Source builds a topic map.
type Source interface {
	Load(ctx context.Context) (TopicMap, error)
}

// GatewaySource reads the topic map from an OpenFaaS-compatible gateway with
// connector-sdk's FunctionLookupBuilder: the `topic` annotation of every
// function, comma-separated for several subjects. Functions are invoked at
// {gateway}/function/{name}.
type GatewaySource struct {
	gateway string
	builder *types.FunctionLookupBuilder
}

// NewGatewaySource returns a source reading gatewayURL, with basic auth
// credentials read from secretPath when basicAuth is set (the files
// basic-auth-user and basic-auth-password, as OpenFaaS mounts them).
func NewGatewaySource(gatewayURL string, basicAuth bool, secretPath string, client *http.Client) (*GatewaySource, error) {
	var creds *auth.BasicAuthCredentials
	if basicAuth {
		// connector-sdk's GetCredentials panics on a missing file and reads the
		// process environment; read the same files through faas-provider instead.
		reader := auth.ReadBasicAuthFromDisk{SecretMountPath: secretPath}
		c, err := reader.Read()
		if err != nil {
			return nil, fmt.Errorf("gateway basic auth from %s: %w", secretPath, err)
		}
		creds = c
	}
	u, err := url.Parse(gatewayURL)
	if err != nil {
		return nil, fmt.Errorf("gateway url: %w", err)
	}
	return &GatewaySource{
		gateway: strings.TrimRight(u.String(), "/"),
		builder: types.NewFunctionLookupBuilder(gatewayURL, ",", client, creds),
	}, nil
}

// Load lists the gateway's functions. It does not honour ctx beyond the
// client's timeout: the SDK's builder takes none.
func (g *GatewaySource) Load(ctx context.Context) (TopicMap, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := g.builder.Build()
	if err != nil {
		return nil, fmt.Errorf("list functions at %s: %w", g.gateway, err)
	}
	out := TopicMap{}
	for topic, names := range m {
		topic = strings.TrimSpace(topic)
		if topic == "" {
			continue
		}
		for _, n := range names {
			out[topic] = append(out[topic], Target{Name: n, URL: g.gateway + "/function/" + n})
		}
	}
	out.sort()
	return out, nil
}

// StaticSource reads a YAML file listing functions with their URL and topics,
// for Knative Services or any other HTTP endpoint:
//
//   - name: smtp-deliver
//     url: http://smtp-deliver.caliopen.svc.cluster.local
//     topics: [outboundSMTP]
type StaticSource struct{ Path string }

type staticEntry struct {
	Name   string   `yaml:"name"`
	URL    string   `yaml:"url"`
	Topics []string `yaml:"topics"`
}

// Load reads and checks the file.
func (s StaticSource) Load(ctx context.Context) (TopicMap, error) {
	b, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, fmt.Errorf("read topic map: %w", err)
	}
	return ParseStaticMap(b)
}

// ParseStaticMap parses the static topic map format.
func ParseStaticMap(b []byte) (TopicMap, error) {
	var entries []staticEntry
	if err := yaml.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("parse topic map: %w", err)
	}
	out := TopicMap{}
	for i, e := range entries {
		u, err := url.Parse(e.URL)
		if e.Name == "" || err != nil || u.Scheme == "" || u.Host == "" || len(e.Topics) == 0 {
			return nil, fmt.Errorf("topic map entry %d (%q): want name, an absolute url and at least one topic", i, e.Name)
		}
		for _, t := range e.Topics {
			out[t] = append(out[t], Target{Name: e.Name, URL: e.URL})
		}
	}
	out.sort()
	return out, nil
}

func (m TopicMap) sort() {
	for _, ts := range m {
		sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	}
}

// Load returns the map itself: a fixed map is a Source.
func (m TopicMap) Load(context.Context) (TopicMap, error) { return m, nil }

// Functions counts the distinct functions in the map.
func (m TopicMap) Functions() int {
	seen := map[string]bool{}
	for _, ts := range m {
		for _, t := range ts {
			seen[t.Name] = true
		}
	}
	return len(seen)
}

func (m TopicMap) equal(o TopicMap) bool {
	if len(m) != len(o) {
		return false
	}
	for k, v := range m {
		if !slices.Equal(v, o[k]) {
			return false
		}
	}
	return true
}

// Router holds the current topic map and refreshes it. When a refresh fails
// it keeps the last good map and says so in the log and the metrics.
type Router struct {
	source   Source
	interval time.Duration
	logger   *slog.Logger
	metrics  *Metrics
	current  atomic.Pointer[TopicMap]
}

// NewRouter returns a router over source; call Refresh or Run to fill it.
func NewRouter(source Source, interval time.Duration, logger *slog.Logger, m *Metrics) *Router {
	return &Router{source: source, interval: interval, logger: logger, metrics: m}
}

// Match returns the functions for subject.
func (r *Router) Match(subject string) []Target {
	m := r.current.Load()
	if m == nil {
		return nil
	}
	return (*m)[subject]
}

// Synced reports whether a map was ever loaded.
func (r *Router) Synced() bool { return r.current.Load() != nil }

// Refresh loads the map once. On error the previous map stays in force.
func (r *Router) Refresh(ctx context.Context) error {
	m, err := r.source.Load(ctx)
	if err != nil {
		r.metrics.mapRefreshErrors.Inc()
		return err
	}
	old := r.current.Load()
	r.current.Store(&m)
	r.metrics.mapFunctions.Set(float64(m.Functions()))
	r.metrics.mapLastSuccess.SetToCurrentTime()
	if old == nil || !old.equal(m) {
		for subject, ts := range m {
			if len(ts) > 1 {
				names := make([]string, len(ts))
				for i, t := range ts {
					names[i] = t.Name
				}
				r.logger.Info("several functions on one subject: events go to each, requests to the first",
					"subject", subject, "functions", strings.Join(names, ","))
			}
		}
		r.logger.Info("topic map loaded", "subjects", len(m), "functions", m.Functions())
	}
	return nil
}

// Run refreshes the map every interval until ctx ends.
func (r *Router) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.logger.Warn("topic map refresh failed; keeping the last good map", "err", err)
			}
		}
	}
}
