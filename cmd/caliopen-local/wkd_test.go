package main

import (
	"bytes"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
)

// TestHostedWKDWithGnuPG: a key published through the API (publish_key,
// run by key-action) is found by gpg --locate-external-keys (WKD only) at
// the system's gateway, behind an HTTPS front for
// openpgpkey.caliopen.local as a cluster's ingress would be; after
// delete_key gpg finds nothing.
func TestHostedWKDWithGnuPG(t *testing.T) {
	p := keytest.NewPeers(t)
	api, _ := localSystem(t)
	gateway, _, _ := strings.Cut(api, "/function/")
	gw, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	p.Zone("caliopen.local")
	p.Start(map[string]http.Handler{"openpgpkey.caliopen.local": httputil.NewSingleHostReverseProxy(gw)})

	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "alice", "password": "alice-password-1"})
	alice := login(t, api, "alice", "alice-password-1")
	me := alice.must(201, "POST", "/contacts", map[string]any{"title": "me",
		"emails": []map[string]any{{"address": "alice@caliopen.local"}}})["contact_id"].(string)

	e, err := openpgp.NewEntity("Alice", "", "alice@caliopen.local", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	_ = e.Serialize(w)
	_ = w.Close()
	key := alice.must(201, "POST", "/contacts/"+me+"/publickeys", map[string]any{"key": buf.String()})
	fpr := key["fingerprint"].(string)

	wkd := gateway + "/.well-known/openpgpkey/caliopen.local/hu/" + keydiscovery.WKDHash("alice")
	waitStatus(t, wkd, http.StatusOK)
	if got := p.Locate("clear,wkd", "alice@caliopen.local")["alice@caliopen.local"]; len(got) != 1 || got[0] != fpr {
		t.Fatalf("gpg found %v through WKD at the gateway, want %s", got, fpr)
	}

	alice.must(204, "DELETE", "/contacts/"+me+"/publickeys/"+key["key_id"].(string), nil)
	waitStatus(t, wkd, http.StatusNotFound)
	if got := p.Locate("clear,wkd", "alice@caliopen.local")["alice@caliopen.local"]; len(got) != 0 {
		t.Errorf("gpg still finds %v after delete_key", got)
	}
}

// waitStatus polls url until it answers status.
func waitStatus(t *testing.T, url string, status int) {
	t.Helper()
	var last int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if last = res.StatusCode; last == status {
			return
		}
	}
	t.Fatalf("GET %s = %d, want %d", url, last, status)
}
