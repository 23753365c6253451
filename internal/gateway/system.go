package gateway

import (
	"encoding/json"
	"net/http"
	"runtime"

	"github.com/openfaas/faas-provider/types"
)

// info is the body of /system/info, as the real gateway writes it.
type info struct {
	Provider *types.ProviderInfo `json:"provider"`
	Version  *types.VersionInfo  `json:"version"`
	Arch     string              `json:"arch"`
}

// listFunctions serves GET /system/functions[?namespace=openfaas-fn].
func (g *Gateway) listFunctions(w http.ResponseWriter, r *http.Request) {
	if !g.namespaceOK(w, r) {
		return
	}
	out := make([]types.FunctionStatus, 0, len(g.names))
	for _, name := range g.names {
		out = append(out, g.status(g.fns[name]))
	}
	writeJSON(w, out)
}

// describeFunction serves GET /system/function/<name>[?namespace=openfaas-fn].
func (g *Gateway) describeFunction(w http.ResponseWriter, r *http.Request) {
	if !g.namespaceOK(w, r) {
		return
	}
	s, ok := g.lookup(r.PathValue("name"))
	if !ok {
		http.Error(w, "function not found", http.StatusNotFound)
		return
	}
	writeJSON(w, g.status(s))
}

// listNamespaces serves GET /system/namespaces.
func (g *Gateway) listNamespaces(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, []string{Namespace})
}

// namespace serves /system/namespace/<name> (faas-cli namespace get,
// create, update, remove): the one namespace is there and is the only one.
func (g *Gateway) namespace(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	switch {
	case r.Method == http.MethodGet && name == Namespace:
		writeJSON(w, map[string]string{"name": Namespace})
	case r.Method == http.MethodGet:
		http.Error(w, "namespace "+name+" not found: this gateway has one namespace, "+Namespace, http.StatusNotFound)
	default:
		http.Error(w, "namespaces are not created, changed or removed here: this gateway has one namespace, "+Namespace,
			http.StatusNotImplemented)
	}
}

// info serves GET /system/info.
func (g *Gateway) info(w http.ResponseWriter, r *http.Request) {
	v := &types.VersionInfo{Release: g.cfg.Version, SHA: "none"}
	writeJSON(w, info{
		Provider: &types.ProviderInfo{Name: ProviderName, Orchestration: Orchestration, Version: v},
		Version:  v,
		Arch:     runtime.GOARCH,
	})
}

// status describes one function as /system/functions lists it.
func (g *Gateway) status(s *served) types.FunctionStatus {
	st := types.FunctionStatus{
		Name:              s.fn.Name,
		Image:             "local/" + s.fn.Name,
		Namespace:         Namespace,
		InvocationCount:   float64(s.invocations.Load()),
		Replicas:          1,
		AvailableReplicas: 1,
		CreatedAt:         g.created,
	}
	if s.fn.Annotations != nil {
		a := s.fn.Annotations
		st.Annotations = &a
	}
	if s.fn.Labels != nil {
		l := s.fn.Labels
		st.Labels = &l
	}
	return st
}

// namespaceOK rejects a namespace other than ours with 400, as
// faas-netes does for a namespace it does not manage.
func (g *Gateway) namespaceOK(w http.ResponseWriter, r *http.Request) bool {
	if ns := r.URL.Query().Get("namespace"); ns != "" && ns != Namespace {
		http.Error(w, "namespace not valid", http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
