package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"runtime"
	"strings"
	"time"

	"github.com/openfaas/faas-provider/logs"
	"github.com/openfaas/faas-provider/types"

	"github.com/caliopen/functions/internal/fnhttp"
)

// maxRequestBytes bounds the body of a request to the provider's API.
const maxRequestBytes = 1 << 20

// logFollowLimit bounds one logs request, following included.
const logFollowLimit = time.Hour

// Handlers returns the provider's handlers in faas-provider's contract.
// They read the function's name from the request's path value "name" (a
// net/http ServeMux pattern such as /system/function/{name}); the
// FunctionProxy also reads "rest", the path after /function/<name>/.
func (p *Provider) Handlers() *types.FaaSHandlers {
	return &types.FaaSHandlers{
		FunctionProxy: func(w http.ResponseWriter, r *http.Request) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + r.PathValue("rest")
			r2.URL.RawPath = ""
			p.Function(r.PathValue("name")).ServeHTTP(w, r2)
		},
		FunctionReader:       p.listFunctions,
		DeployHandler:        p.deployHandler(false),
		UpdateHandler:        p.deployHandler(true),
		DeleteHandler:        p.deleteFunction,
		ReplicaReader:        p.describeFunction,
		ReplicaUpdater:       p.scaleFunction,
		SecretHandler:        p.secretHandler,
		LogHandler:           logs.NewLogHandlerFunc(p.logs, logFollowLimit),
		HealthHandler:        func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) },
		InfoHandler:          p.info,
		ListNamespaceHandler: func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, []string{Namespace}) },
	}
}

// Function is the proxy to a function's replicas: each request, its path
// relative to the function, goes to the least loaded ready replica, started
// first when none is free. The wait for a replica ends with the request,
// at its X-Caliopen-Deadline, or after the start timeout. A function not
// deployed gets 404; no replica ready in time gets 504 (503 when its
// start failed); a replica that fails mid-call gets 502.
func (p *Provider) Function(name string) http.Handler {
	name, _ = strings.CutSuffix(name, "."+Namespace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := p.function(name)
		if f == nil {
			http.Error(w, fmt.Sprintf("function %s is not deployed", name), http.StatusNotFound)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), p.cfg.StartTimeout)
		defer cancel()
		// The caller's deadline, as the connector states it, bounds the
		// wait for a replica.
		if at, err := time.Parse(time.RFC3339Nano, r.Header.Get(fnhttp.HeaderDeadline)); err == nil {
			var cancelAt context.CancelFunc
			ctx, cancelAt = context.WithDeadline(ctx, at)
			defer cancelAt()
		}
		f.calls.Add(1)
		rep, err := f.acquire(ctx)
		if err != nil {
			http.Error(w, fmt.Sprintf("function %s: %v", name, err), statusOf(err))
			return
		}
		defer f.release(rep)
		p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), replicaKey{}, rep)))
	})
}

// replicaKey carries the replica chosen for a proxied request.
type replicaKey struct{}

func (p *Provider) newProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			rep := pr.In.Context().Value(replicaKey{}).(*replica)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = rep.addr
			pr.Out.Host = pr.In.Host
			// As a gateway does: the function sees the client's address
			// last in X-Forwarded-For.
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rep := r.Context().Value(replicaKey{}).(*replica)
			if r.Context().Err() == nil {
				p.logger.Warn("replica call failed", "fn", rep.fn.name, "instance", rep.id, "err", err)
				// A connection cut is most often the replica's death:
				// once known, acquire passes it by.
				t := time.NewTimer(exitWait)
				select {
				case <-rep.exited:
				case <-t.C:
				}
				t.Stop()
			}
			http.Error(w, fmt.Sprintf("function %s: replica %s failed before answering", rep.fn.name, rep.id), http.StatusBadGateway)
		},
	}
}

func (p *Provider) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !namespaceOK(w, r.URL.Query().Get("namespace")) {
		return
	}
	writeJSON(w, http.StatusOK, p.List())
}

func (p *Provider) describeFunction(w http.ResponseWriter, r *http.Request) {
	if !namespaceOK(w, r.URL.Query().Get("namespace")) {
		return
	}
	name, _ := strings.CutSuffix(r.PathValue("name"), "."+Namespace)
	st, ok := p.Status(name)
	if !ok {
		http.Error(w, fmt.Sprintf("function %s is not deployed", name), http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// deployHandler serves POST (deploy or replace) and, with update, PUT
// (404 when the function is not deployed: faas-cli then deploys it).
func (p *Provider) deployHandler(update bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var d types.FunctionDeployment
		if !readJSON(w, r, &d) {
			return
		}
		if err := p.deploy(d, update); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (p *Provider) deleteFunction(w http.ResponseWriter, r *http.Request) {
	var req types.DeleteFunctionRequest
	if !readJSON(w, r, &req) {
		return
	}
	if !namespaceOK(w, r.URL.Query().Get("namespace")) {
		return
	}
	if err := p.Remove(req.FunctionName); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (p *Provider) scaleFunction(w http.ResponseWriter, r *http.Request) {
	var req types.ScaleServiceRequest
	if !readJSON(w, r, &req) {
		return
	}
	name, _ := strings.CutSuffix(r.PathValue("name"), "."+Namespace)
	if req.ServiceName != "" && req.ServiceName != name {
		http.Error(w, fmt.Sprintf("serviceName %q differs from the path's function %q", req.ServiceName, name), http.StatusBadRequest)
		return
	}
	if req.Replicas > 1000 {
		http.Error(w, fmt.Sprintf("replicas %d: too many", req.Replicas), http.StatusBadRequest)
		return
	}
	if err := p.Scale(name, int(req.Replicas)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// secretHandler serves /system/secrets: GET lists the names, POST creates
// (409 when it exists), PUT replaces (404 when it does not), DELETE
// removes. Values are never listed. The system's own secrets stay usable
// (guardSecret).
func (p *Provider) secretHandler(w http.ResponseWriter, r *http.Request) {
	if !namespaceOK(w, r.URL.Query().Get("namespace")) {
		return
	}
	if r.Method == http.MethodGet {
		names, err := p.secrets.list()
		if err != nil {
			writeError(w, err)
			return
		}
		out := make([]types.Secret, 0, len(names))
		for _, n := range names {
			out = append(out, types.Secret{Name: n, Namespace: Namespace})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	var s types.Secret
	if !readJSON(w, r, &s) {
		return
	}
	if !namespaceOK(w, s.Namespace) {
		return
	}
	value := s.RawValue
	if len(value) == 0 {
		value = []byte(s.Value)
	}
	if err := p.guardSecret(r.Method, s.Name, value); err != nil {
		writeError(w, err)
		return
	}
	var err error
	status := http.StatusAccepted
	switch r.Method {
	case http.MethodPost:
		err, status = p.secrets.put(s.Name, value, createOnly), http.StatusCreated
	case http.MethodPut:
		err = p.secrets.put(s.Name, value, updateOnly)
	case http.MethodDelete:
		err = p.secrets.remove(s.Name)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	p.logger.Info("secret changed", "secret", s.Name, "method", r.Method)
	w.WriteHeader(status)
}

// info is the body of /system/info, as a gateway writes it.
type info struct {
	Provider *types.ProviderInfo `json:"provider"`
	Version  *types.VersionInfo  `json:"version"`
	Arch     string              `json:"arch"`
}

func (p *Provider) info(w http.ResponseWriter, _ *http.Request) {
	v := &types.VersionInfo{Release: p.cfg.Version, SHA: "none"}
	writeJSON(w, http.StatusOK, info{
		Provider: &types.ProviderInfo{Name: Name, Orchestration: Orchestration, Version: v},
		Version:  v, Arch: runtime.GOARCH,
	})
}

func namespaceOK(w http.ResponseWriter, ns string) bool {
	if ns != "" && ns != Namespace {
		http.Error(w, fmt.Sprintf("namespace %q is not valid: this provider has only %s", ns, Namespace), http.StatusBadRequest)
		return false
	}
	return true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err := dec.Decode(v); err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		http.Error(w, re.Error(), re.Status)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
