package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// Public returns the gateway as seen from outside: the functions named in
// public are served, every other function's invocation paths
// (/function/<name>..., /async-function/<name>...) answer 403 without
// reaching it (404 when no such function is served), and the system endpoints, health and metrics stay as they
// are. The local system serves this on its listener and keeps the whole
// gateway for the connector, in process.
//
// The check is made twice: on the path before routing, and on the function
// the route resolved to, so that no spelling of a path reaches an internal
// function.
func (g *Gateway) Public(public ...string) http.Handler {
	public = slices.Clone(public)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := invokedName(r.URL.Path); ok {
			base, _, _ := strings.Cut(name, ".")
			if _, known := g.lookup(name); !known {
				http.Error(w, "function not found", http.StatusNotFound)
				return
			}
			if !slices.Contains(public, base) {
				forbid(w)
				return
			}
		}
		g.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), publicKey{}, public)))
	})
}

// publicKey marks a request that came through Public; its value is the
// public functions' names.
type publicKey struct{}

// allowed says whether the request may invoke the function name: always,
// unless it came through Public and name is not public there.
func allowed(r *http.Request, name string) bool {
	public, ok := r.Context().Value(publicKey{}).([]string)
	return !ok || slices.Contains(public, name)
}

func forbid(w http.ResponseWriter) {
	http.Error(w, "function is not public: only the connector invokes it", http.StatusForbidden)
}

// invokedName is the function an invocation path names, and whether the
// path is an invocation at all.
func invokedName(path string) (string, bool) {
	for _, prefix := range []string{"/function/", "/async-function/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			name, _, _ := strings.Cut(rest, "/")
			return name, true
		}
	}
	return "", false
}
