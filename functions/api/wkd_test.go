package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/store"
)

// TestHostedWKD: the keys key-action published are served without a
// token at both WKD methods' paths.
func TestHostedWKD(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	u := e.user("alice", false)
	hash := keydiscovery.WKDHash("Alice")
	data := []byte{0x98, 1, 2, 3}
	if err := e.st.PublishWKD(context.Background(), []store.WKDKey{{Domain: "caliopen.local", LocalHash: hash, KeyID: "k1",
		UserID: u.ID, Address: "alice@caliopen.local", Fingerprint: "AB", Data: data}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, host string
		status     int
	}{
		{"/.well-known/openpgpkey/caliopen.local/hu/" + hash + "?l=Alice", "openpgpkey.caliopen.local", http.StatusOK},
		{"/.well-known/openpgpkey/hu/" + hash + "?l=alice", "caliopen.local:8443", http.StatusOK},
		{"/.well-known/openpgpkey/hu/" + hash, "other.example", http.StatusNotFound},
		{"/.well-known/openpgpkey/other.example/hu/" + hash, "", http.StatusNotFound},
		{"/.well-known/openpgpkey/caliopen.local/hu/" + keydiscovery.WKDHash("bob"), "", http.StatusNotFound},
		{"/.well-known/openpgpkey/caliopen.local/hu/not-a-hash", "", http.StatusNotFound},
		{"/.well-known/openpgpkey/caliopen.local/policy", "", http.StatusOK},
		{"/.well-known/openpgpkey/policy", "", http.StatusOK},
	} {
		r := getHost(t, e, tc.path, tc.host)
		if r.status != tc.status {
			t.Errorf("GET %s (Host %s) = %d, want %d", tc.path, tc.host, r.status, tc.status)
		}
		if tc.status == http.StatusOK && bytes.Contains([]byte(tc.path), []byte("/hu/")) && !bytes.Equal(r.body, data) {
			t.Errorf("GET %s = %x, want the published key", tc.path, r.body)
		}
	}
}

// getHost sends GET path with Host host (the server's own when empty).
func getHost(t *testing.T, e *env, path, host string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}
