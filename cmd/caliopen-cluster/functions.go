package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/provider"
)

// functions runs the functions as OpenFaaS is built: the project's own
// provider (package provider: each deployment as processes of
// bin/function, scaled by its labels, replaced when one dies) serving
// faas-provider's API, with the OpenFaaS CE gateway in front of it
// (topology.Gateway, a supervised process).
type functions struct {
	p      *provider.Provider
	srv    *http.Server
	names  []string
	logger *slog.Logger
}

// startProvider starts the provider and serves its API at
// topo.ProviderAddr, behind basic auth with the gateway's credentials, as
// caliopen-local -isolation=process assembles it (package gateway routes
// faas-provider's handlers). The secrets the deployments name are put
// first.
func startProvider(cfg config, topo *topology, sec *secrets, logger *slog.Logger) (*functions, error) {
	var names []string
	for _, d := range topo.Deployments {
		names = append(names, d.Service)
	}
	p, err := provider.New(provider.Config{
		Binary:      filepath.Join(cfg.BinDir, "function"),
		DataDir:     filepath.Join(cfg.DataDir, "provider"),
		Functions:   names,
		Env:         topo.ProviderEnv,
		FunctionEnv: func(fn string) map[string]string { return topo.FunctionEnv[fn] },
		// Replicas stay up: the functions' minimum is what runs.
		IdleTimeout: 24 * time.Hour,
		StopGrace:   stopGrace,
	}, nil, logger.With("part", "provider"))
	if err != nil {
		return nil, err
	}
	f := &functions{p: p, names: names, logger: logger}
	for _, name := range slices.Sorted(maps.Keys(topo.Secrets)) {
		if err := p.PutSecret(name, []byte(topo.Secrets[name])); err != nil {
			p.Close()
			return nil, fmt.Errorf("provider: secret %s: %w", name, err)
		}
	}
	var fns []gateway.Function
	for _, n := range names {
		fns = append(fns, gateway.Function{Name: n, Handler: p.Function(n)})
	}
	gw, err := gateway.New(gateway.Config{Provider: p.Handlers(),
		BasicAuth: &auth.BasicAuthCredentials{User: gatewayUser, Password: sec.GatewayPassword}},
		fns, prometheus.NewRegistry(), logger.With("part", "provider"))
	if err != nil {
		p.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", topo.ProviderAddr)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("provider: %w", err)
	}
	f.srv = &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

// close stops the provider's API, then every replica.
func (f *functions) close() {
	_ = f.srv.Close()
	_ = f.p.Close()
}

// deploy posts each deployment to the OpenFaaS gateway, as faas-cli
// deploy does, and waits until every function has its minimum of
// replicas ready.
func (f *functions) deploy(ctx context.Context, gatewayURL, password string, deps []types.FunctionDeployment) error {
	client := &http.Client{Timeout: 30 * time.Second}
	for _, d := range deps {
		body, err := json.Marshal(d)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+"/system/functions", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(gatewayUser, password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("deploy %s through the gateway: %w", d.Service, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
			return fmt.Errorf("deploy %s through the gateway: %s: %s", d.Service, resp.Status, bytes.TrimSpace(msg))
		}
	}
	for {
		var waiting []string
		for _, d := range deps {
			st, ok := f.p.Status(d.Service)
			if min := minOf(d); !ok || st.AvailableReplicas < uint64(min) {
				waiting = append(waiting, d.Service)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("functions without their replicas ready: %v (logs in %s): %w", waiting,
				filepath.Join("provider", "logs"), context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// minOf is a deployment's minimum of replicas.
func minOf(d types.FunctionDeployment) int {
	n := 1
	if d.Labels != nil {
		fmt.Sscan((*d.Labels)[provider.LabelScaleMin], &n)
	}
	return n
}

// Replica is one replica of a function as state.json lists it.
type Replica struct {
	Function string `json:"function"`
	ID       string `json:"id"`
	PID      int    `json:"pid"`
	Addr     string `json:"addr"`
	Ready    bool   `json:"ready"`
}

// replicas lists every function's replicas, by function and id.
func (f *functions) replicas() []Replica {
	var out []Replica
	for _, n := range f.names {
		for _, in := range f.p.Instances(n) {
			out = append(out, Replica{Function: n, ID: in.ID, PID: in.PID, Addr: in.Addr, Ready: in.Ready})
		}
	}
	return out
}
