package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWKDRoute(t *testing.T) {
	t.Parallel()
	fns := []Function{{Name: "api", Handler: echo()}, {Name: "other", Handler: status(http.StatusTeapot)}}
	g, _ := newTestGateway(t, Config{WKDFunction: "api"}, fns)
	for _, path := range []string{"/.well-known/openpgpkey/example.org/hu/abc?l=joe", "/.well-known/openpgpkey/hu/abc"} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var got map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
		if got["uri"] != path {
			t.Errorf("GET %s reached the function as %s", path, got["uri"])
		}
	}
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/.well-known/openpgpkey/hu/abc", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST = %d, want 405", rec.Code)
	}

	plain, _ := newTestGateway(t, Config{}, fns)
	rec = httptest.NewRecorder()
	plain.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/openpgpkey/hu/abc", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without WKDFunction: %d, want 404", rec.Code)
	}
	if _, err := New(Config{WKDFunction: "nope"}, fns, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepts a WKD function that is not listed")
	}
}
