package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	sdk "github.com/openfaas/connector-sdk/types"
	"github.com/openfaas/faas-provider/auth"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
)

// TestFunctionLookupBuilder checks that connector-sdk, unchanged, builds the
// topic map from the gateway's listing over HTTP, and that the function paths
// it yields are invocable.
func TestFunctionLookupBuilder(t *testing.T) {
	t.Parallel()
	fns := []Function{
		{Name: "smtp-deliver", Handler: echo(), Annotations: map[string]string{"topic": "outboundSMTP"}},
		{Name: "inbound", Handler: echo(), Annotations: map[string]string{"topic": "inboundSMTP, inboundTwitter"}},
		{Name: "twitter-dm", Handler: echo(), Annotations: map[string]string{"topic": "twitter_dm,inboundTwitter", "other": "x"}},
		{Name: "api", Handler: echo(), Labels: map[string]string{"topic": "not-an-annotation"}},
	}
	want := map[string][]string{
		"outboundSMTP":   {"smtp-deliver.openfaas-fn"},
		"inboundSMTP":    {"inbound.openfaas-fn"},
		"inboundTwitter": {"inbound.openfaas-fn", "twitter-dm.openfaas-fn"},
		"twitter_dm":     {"twitter-dm.openfaas-fn"},
	}
	creds := &auth.BasicAuthCredentials{User: "admin", Password: "pw"}
	tests := []struct {
		name    string
		cfg     Config
		creds   *auth.BasicAuthCredentials
		wantErr bool
	}{
		{name: "no auth", cfg: Config{}},
		{name: "basic auth", cfg: Config{BasicAuth: creds}, creds: creds},
		{name: "basic auth missing", cfg: Config{BasicAuth: creds}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, _ := newTestGateway(t, tt.cfg, fns)
			srv := httptest.NewServer(g)
			defer srv.Close()
			got, err := sdk.NewFunctionLookupBuilder(srv.URL, ",", srv.Client(), tt.creds).Build()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Build() = %v, want an authorization error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build() error = %v", err)
			}
			for _, v := range got {
				sort.Strings(v)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Build() = %v, want %v", got, want)
			}
			// Every path of the map answers at /function/<path>, as connector-sdk invokes it.
			for topic, paths := range got {
				for _, p := range paths {
					resp, err := http.Post(srv.URL+"/function/"+p, "application/json", strings.NewReader("{}"))
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("invoke %s for %s = %d, want 200", p, topic, resp.StatusCode)
					}
				}
			}
		})
	}
}

// TestInvokeFunctionAdapter runs a real fnhttp function behind the gateway:
// the gateway's X-Call-Id becomes the call's correlation id.
func TestInvokeFunctionAdapter(t *testing.T) {
	t.Parallel()
	calls := make(chan *fnhttp.Call, 1)
	core := func(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
		calls <- call
		return fnhttp.Result{Message: "updated"}, nil
	}
	h := fnhttp.New(fnhttp.Config{Function: "contact-action"}, contract.Caliopen(), core, slog.New(slog.DiscardHandler))
	g, _ := newTestGateway(t, Config{}, []Function{{Name: "contact-action", Handler: h,
		Annotations: map[string]string{"topic": contract.SubjectContactAction}}})
	w := do(g, http.MethodPost, "/function/contact-action.openfaas-fn",
		`{"order":"contact_update","contact_id":"c1","user_id":"u1"}`, map[string]string{"Content-Type": "application/json"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("invoke = %d %s", w.Code, w.Body)
	}
	call := <-calls
	if call.CorrelationID == "" || call.CorrelationID != w.Header().Get("X-Call-Id") {
		t.Errorf("corr id = %q, want the gateway's X-Call-Id %q", call.CorrelationID, w.Header().Get("X-Call-Id"))
	}
}
