package gateway

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/openfaas/faas-provider/auth"
	"github.com/openfaas/faas-provider/types"
	"github.com/prometheus/client_golang/prometheus"
)

// echo answers with what it received: path, query, call id, body.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "uri": r.RequestURI,
			"call_id": r.Header.Get("X-Call-Id"), "start": r.Header.Get("X-Start-Time"), "body": string(body),
		})
	})
}

// status answers code.
func status(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
}

func testFunctions() []Function {
	return []Function{
		{Name: "smtp-deliver", Handler: echo(),
			Annotations: map[string]string{"topic": "outboundSMTP"},
			Labels:      map[string]string{"com.openfaas.scale.min": "1"}},
		{Name: "inbound", Handler: status(http.StatusServiceUnavailable),
			Annotations: map[string]string{"topic": "inboundSMTP, inboundTwitter"}},
		{Name: "api", Handler: status(http.StatusOK)},
	}
}

func newTestGateway(t *testing.T, cfg Config, fns []Function) (*Gateway, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(cfg, fns, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return g, reg
}

func do(h http.Handler, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestNewReportsEveryProblem(t *testing.T) {
	t.Parallel()
	fns := []Function{
		{Name: "Bad_Name", Handler: echo()},
		{Name: "twice", Handler: echo()},
		{Name: "twice", Handler: echo()},
		{Name: "nohandler"},
	}
	_, err := New(Config{MaxBodyBytes: -1, BasicAuth: &auth.BasicAuthCredentials{User: "admin"}}, fns, nil, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("New() = nil error, want one")
	}
	for _, want := range []string{`"Bad_Name" is not a DNS label`, `"twice" is listed twice`, `"nohandler" has no handler`, "basic auth", "negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New() = %q, want it to contain %q", err, want)
		}
	}
	if _, err := New(Config{}, testFunctions(), prometheus.WrapRegistererWithPrefix("x_", prometheus.NewRegistry()), slog.New(slog.DiscardHandler)); err == nil {
		t.Errorf("New() with a registerer that cannot gather = nil error, want one")
	}
}

func TestListFunctions(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{}, testFunctions())
	do(g, http.MethodPost, "/function/smtp-deliver", "{}", nil)
	w := do(g, http.MethodGet, "/system/functions", "", nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /system/functions = %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var raw []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 3 {
		t.Fatalf("listed %d functions, want 3", len(raw))
	}
	first := raw[2] // sorted: api, inbound, smtp-deliver
	for key, want := range map[string]any{
		"name": "smtp-deliver", "image": "local/smtp-deliver", "namespace": "openfaas-fn",
		"replicas": 1.0, "availableReplicas": 1.0, "invocationCount": 1.0,
		"annotations": map[string]any{"topic": "outboundSMTP"},
		"labels":      map[string]any{"com.openfaas.scale.min": "1"},
	} {
		if !reflect.DeepEqual(first[key], want) {
			t.Errorf("function %s = %#v, want %#v", key, first[key], want)
		}
	}
	var typed []types.FunctionStatus
	if err := json.Unmarshal(w.Body.Bytes(), &typed); err != nil {
		t.Fatal(err)
	}
	if names := []string{typed[0].Name, typed[1].Name, typed[2].Name}; !reflect.DeepEqual(names, []string{"api", "inbound", "smtp-deliver"}) {
		t.Errorf("names = %v, want sorted", names)
	}
	if typed[0].Annotations != nil || typed[0].CreatedAt.IsZero() {
		t.Errorf("api = %+v, want no annotations and a creation time", typed[0])
	}
}

func TestSystemEndpoints(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{Version: "1.2.3"}, testFunctions())
	tests := []struct {
		name, target string
		wantStatus   int
		wantJSON     string // compared as values; empty: not checked
	}{
		{"namespaces", "/system/namespaces", 200, `["openfaas-fn"]`},
		{"our namespace", "/system/functions?namespace=openfaas-fn", 200, ""},
		{"other namespace", "/system/functions?namespace=default", 400, ""},
		{"describe", "/system/function/inbound", 200, ""},
		{"describe in namespace", "/system/function/inbound?namespace=openfaas-fn", 200, ""},
		{"describe qualified", "/system/function/inbound.openfaas-fn", 200, ""},
		{"describe unknown", "/system/function/nope", 404, ""},
		{"describe in other namespace", "/system/function/inbound?namespace=default", 400, ""},
		{"info", "/system/info", 200, `{"provider":{"provider":"caliopen-local","orchestration":"in-process",` +
			`"version":{"sha":"none","release":"1.2.3"}},"version":{"sha":"none","release":"1.2.3"},"arch":"` + runtime.GOARCH + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(g, http.MethodGet, tt.target, "", nil)
			if w.Code != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d (%s)", tt.target, w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantJSON != "" {
				var got, want any
				_ = json.Unmarshal(w.Body.Bytes(), &got)
				_ = json.Unmarshal([]byte(tt.wantJSON), &want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("GET %s = %s, want %s", tt.target, w.Body, tt.wantJSON)
				}
			}
		})
	}
	t.Run("describe shape", func(t *testing.T) {
		var st types.FunctionStatus
		if err := json.Unmarshal(do(g, http.MethodGet, "/system/function/inbound", "", nil).Body.Bytes(), &st); err != nil {
			t.Fatal(err)
		}
		if st.Name != "inbound" || st.Namespace != Namespace || st.Annotations == nil || (*st.Annotations)["topic"] != "inboundSMTP, inboundTwitter" {
			t.Errorf("describe = %+v", st)
		}
	})
	t.Run("healthz", func(t *testing.T) {
		if w := do(g, http.MethodGet, "/healthz", "", nil); w.Code != 200 {
			t.Errorf("GET /healthz = %d", w.Code)
		}
	})
	t.Run("deploy is not supported", func(t *testing.T) {
		if w := do(g, http.MethodPost, "/system/functions", `{"service":"x"}`, nil); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST /system/functions = %d, want 405", w.Code)
		}
	})
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	creds := &auth.BasicAuthCredentials{User: "admin", Password: "s3cret"}
	g, _ := newTestGateway(t, Config{BasicAuth: creds}, testFunctions())
	tests := []struct {
		target     string
		user, pass string
		wantStatus int
	}{
		{"/system/functions", "", "", 401},
		{"/system/functions", "admin", "wrong", 401},
		{"/system/functions", "admin", "s3cret", 200},
		{"/system/namespaces", "", "", 401},
		{"/system/function/api", "", "", 401},
		{"/system/info", "", "", 401},
		{"/healthz", "", "", 200},
		{"/metrics", "", "", 200},
		{"/function/api", "", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.user+":"+tt.pass, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.user != "" {
				r.SetBasicAuth(tt.user, tt.pass)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Errorf("GET %s = %d, want %d", tt.target, w.Code, tt.wantStatus)
			}
		})
	}
}

func TestInvoke(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{}, testFunctions())
	tests := []struct {
		name, method, target string
		header               map[string]string
		wantStatus           int
		wantPath, wantQuery  string
		wantCallID           string // "*": generated
	}{
		{"root", http.MethodPost, "/function/smtp-deliver", nil, 200, "/", "", "*"},
		{"trailing slash", http.MethodPost, "/function/smtp-deliver/", nil, 200, "/", "", "*"},
		{"sub-path and query", http.MethodPost, "/function/smtp-deliver/a/b?x=1", nil, 200, "/a/b", "x=1", "*"},
		{"qualified name", http.MethodPost, "/function/smtp-deliver.openfaas-fn/a", nil, 200, "/a", "", "*"},
		{"GET is forwarded", http.MethodGet, "/function/smtp-deliver/_/health", nil, 200, "/_/health", "", "*"},
		{"call id kept", http.MethodPost, "/function/smtp-deliver", map[string]string{"X-Call-Id": "call-7"}, 200, "/", "", "call-7"},
		{"other namespace", http.MethodPost, "/function/smtp-deliver.default", nil, 404, "", "", ""},
		{"unknown", http.MethodPost, "/function/nope", nil, 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(g, tt.method, tt.target, `{"order":"deliver"}`, tt.header)
			if w.Code != tt.wantStatus {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.target, w.Code, tt.wantStatus)
			}
			if tt.wantStatus == 404 {
				if got := strings.TrimSpace(w.Body.String()); got != "function not found" {
					t.Errorf("404 body = %q, want function not found", got)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got["path"] != tt.wantPath || got["query"] != tt.wantQuery || got["method"] != tt.method {
				t.Errorf("function saw %s %s?%s, want %s %s?%s", got["method"], got["path"], got["query"], tt.method, tt.wantPath, tt.wantQuery)
			}
			if got["body"] != `{"order":"deliver"}` {
				t.Errorf("function saw body %q", got["body"])
			}
			if wantURI := tt.wantPath + map[bool]string{true: "?" + tt.wantQuery}[tt.wantQuery != ""]; got["uri"] != wantURI {
				t.Errorf("RequestURI = %q, want %q", got["uri"], wantURI)
			}
			switch {
			case tt.wantCallID == "*" && got["call_id"] == "":
				t.Errorf("no X-Call-Id added")
			case tt.wantCallID != "*" && got["call_id"] != tt.wantCallID:
				t.Errorf("X-Call-Id = %q, want %q", got["call_id"], tt.wantCallID)
			}
			if w.Header().Get("X-Call-Id") != got["call_id"] {
				t.Errorf("response X-Call-Id = %q, want %q", w.Header().Get("X-Call-Id"), got["call_id"])
			}
			if _, err := strconv.ParseInt(got["start"], 10, 64); err != nil {
				t.Errorf("X-Start-Time = %q, want Unix nanoseconds", got["start"])
			}
			if d, err := strconv.ParseFloat(w.Header().Get("X-Duration-Seconds"), 64); err != nil || d < 0 {
				t.Errorf("X-Duration-Seconds = %q, want seconds", w.Header().Get("X-Duration-Seconds"))
			}
		})
	}
}

func TestInvokeBodyBound(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{MaxBodyBytes: 8}, testFunctions())
	if w := do(g, http.MethodPost, "/function/smtp-deliver", "0123456789", nil); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("10-byte body through an 8-byte gateway = %d, want the function's 413", w.Code)
	}
	if w := do(g, http.MethodPost, "/function/smtp-deliver", "01234567", nil); w.Code != 200 {
		t.Errorf("8-byte body = %d, want 200", w.Code)
	}
}

func TestInvokePanic(t *testing.T) {
	t.Parallel()
	fns := []Function{{Name: "boom", Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })}}
	g, _ := newTestGateway(t, Config{}, fns)
	if w := do(g, http.MethodPost, "/function/boom", "", nil); w.Code != 500 {
		t.Errorf("panicking function = %d, want 500", w.Code)
	}
	if got := scrape(t, g).value("gateway_function_invocation_total", "boom.openfaas-fn", "500"); got != 1 {
		t.Errorf("invocations{code=500} = %v, want 1", got)
	}
}
