package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"time"

	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/provider"
)

// coldStartTarget is the process-mode cold start aimed at, median and
// worst; OpenFaaS's container cold starts take 0.7 to 1.9 s.
const coldStartTarget = 50 * time.Millisecond

// processColdStarts measures the local system's process mode: for every
// function of the module, deployed at zero replicas behind the gateway and
// its provider, the time from an invocation that starts a replica to its
// reply (the function's health answer, sent once its store, blobs and NATS
// are open), n times each. platform is the replicas' store, blobs, NATS and
// keyring. It returns the slowest function's median.
func processColdStarts(w io.Writer, bin, dir string, platform map[string]string, n int) (worstMedian time.Duration, err error) {
	var names []string
	for _, s := range functions.All() {
		names = append(names, s.Name)
	}
	p, err := provider.New(provider.Config{Binary: bin, DataDir: filepath.Join(dir, "provider"), Functions: names,
		Env: platform, IdleTimeout: time.Hour}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if err := p.PutSecret("caliopen-invoke-key", []byte(rand.Text()+rand.Text())); err != nil {
		return 0, err
	}
	var fns []gateway.Function
	for _, name := range names {
		fns = append(fns, gateway.Function{Name: name, Handler: p.Function(name)})
	}
	gw, err := gateway.New(gateway.Config{Provider: p.Handlers()}, fns, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	fmt.Fprintf(w, "process mode: invocation of a function at zero replicas to its reply, %d starts each (target %s):\n",
		n, coldStartTarget)
	worst := time.Duration(0)
	for _, spec := range functions.All() {
		d := types.FunctionDeployment{Service: spec.Name, Image: "local/" + spec.Name,
			EnvVars: map[string]string{"FUNCTION": spec.Name},
			Labels:  &map[string]string{provider.LabelScaleMin: "0", provider.LabelScaleMax: "1"}}
		if spec.HTTP == nil {
			d.Secrets = []string{"caliopen-invoke-key"}
			d.EnvVars[invokeauth.EnvKey+"_FILE"] = provider.SecretsMount + "caliopen-invoke-key"
		}
		if err := p.Deploy(d); err != nil {
			return 0, err
		}
		var starts []time.Duration
		for range n {
			if err := stopAll(p, spec.Name); err != nil {
				return 0, err
			}
			start := time.Now()
			resp, err := http.Get(srv.URL + "/function/" + spec.Name + "/_/health")
			if err != nil {
				return 0, fmt.Errorf("%s: %w", spec.Name, err)
			}
			resp.Body.Close()
			starts = append(starts, time.Since(start))
			if resp.StatusCode >= 500 {
				return 0, fmt.Errorf("%s: first reply %d", spec.Name, resp.StatusCode)
			}
		}
		if err := p.Remove(spec.Name); err != nil {
			return 0, err
		}
		slices.Sort(starts)
		med, max := starts[len(starts)/2], starts[len(starts)-1]
		worstMedian, worst = maxDuration(worstMedian, med), maxDuration(worst, max)
		fmt.Fprintf(w, "  %-18s median %6s (%.2fx target), worst %6s (%.2fx)\n", spec.Name,
			med.Round(100*time.Microsecond), float64(med)/float64(coldStartTarget),
			max.Round(100*time.Microsecond), float64(max)/float64(coldStartTarget))
	}
	verdict := "met"
	if worst > coldStartTarget {
		verdict = "missed"
	}
	fmt.Fprintf(w, "  every function: worst median %s, worst start %s: target %s %s\n",
		worstMedian.Round(100*time.Microsecond), worst.Round(100*time.Microsecond), coldStartTarget, verdict)
	return worstMedian, nil
}

// stopAll scales fn to zero and waits until its replicas have ended.
func stopAll(p *provider.Provider, fn string) error {
	if err := p.Scale(fn, 0); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for len(p.Instances(fn)) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: replicas still running a minute after scaling to zero", fn)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

func maxDuration(a, b time.Duration) time.Duration { return max(a, b) }
