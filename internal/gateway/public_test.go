package gateway

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPublic: through Public, only the public function is invocable, by any
// spelling of its path; the system endpoints still answer; the whole
// gateway still serves every function.
func TestPublic(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{}, testFunctions())
	srv := httptest.NewServer(g.Public("api"))
	defer srv.Close()
	post := func(path string) int {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, path := range []string{"/function/smtp-deliver", "/function/smtp-deliver/", "/function/smtp-deliver.openfaas-fn/x",
		"/function/%73mtp-deliver", "/function//smtp-deliver", "/function/x/../smtp-deliver", "/async-function/smtp-deliver",
		"/function/inbound"} {
		if code := post(path); code != http.StatusForbidden && code != http.StatusNotFound {
			t.Errorf("POST %s through Public = %d, want 403", path, code)
		}
	}
	// An internal function is 403, one that does not exist 404, as
	// faas-cli invoke shows it.
	for path, want := range map[string]int{"/function/api": 200, "/function/api/api/v2/x": 200, "/function/api.openfaas-fn": 200,
		"/function/smtp-deliver": 403, "/async-function/smtp-deliver": 403, "/function/nope": 404, "/async-function/nope": 404,
		"/function/nope.openfaas-fn": 404, "/function/smtp-deliver.other-fn": 404} {
		if code := post(path); code != want {
			t.Errorf("POST %s through Public = %d, want %d", path, code, want)
		}
	}
	res, err := http.Get(srv.URL + "/system/functions")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("GET /system/functions through Public = %v %v", res, err)
	}
	if w := do(g, http.MethodPost, "/function/smtp-deliver", "{}", nil); w.Code != 200 {
		t.Errorf("POST /function/smtp-deliver on the whole gateway = %d", w.Code)
	}
}

// TestNamespace: faas-cli's namespace verbs get an answer that says why:
// the one namespace exists, no other does, none is made.
func TestNamespace(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{}, testFunctions())
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{http.MethodGet, "/system/namespace/openfaas-fn", 200, `"openfaas-fn"`},
		{http.MethodGet, "/system/namespace/other", 404, "one namespace, openfaas-fn"},
		{http.MethodPost, "/system/namespace/", 501, "not created"},
		{http.MethodPut, "/system/namespace/other", 501, "not created"},
		{http.MethodDelete, "/system/namespace/openfaas-fn", 501, "not created"},
	} {
		w := do(g, c.method, c.path, `{"name":"other"}`, nil)
		if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s = %d %q, want %d with %q", c.method, c.path, w.Code, w.Body, c.code, c.body)
		}
	}
}
