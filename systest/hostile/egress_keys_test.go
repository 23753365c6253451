package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	keyaction "github.com/caliopen/functions/functions/key-action"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// egressPublished drops key-action's contact_update orders: this case
// looks at the keys stored.
type egressPublished struct{}

func (egressPublished) Publish(context.Context, string, any) error { return nil }

// TestEgressWKDRevokedNoHKPFallback: a domain's WKD serves only a revoked
// key for an address, and someone uploaded a key with that address to the
// keyserver. The WKD is authoritative for its domain: key-action stops at
// its answer, the keyserver's key is not stored. A key for an address whose domain has no
// WKD still comes from the keyserver (it was reachable), and a WKD key is
// stored with its matching user id only. Real peers: nsd, sks, gpg
// (scripts/test-peers/keyservers.sh).
func TestEgressWKDRevokedNoHKPFallback(t *testing.T) {
	p := keytest.NewPeers(t)
	now := time.Now()
	p.WKD("revoked@wa.test", keytest.NewKey(t, "revoked@wa.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
			t.Fatal(err)
		}
	}), true)
	planted := keytest.KeyFor(t, "revoked@wa.test") // anyone's upload
	p.HKP(planted)
	plain := keytest.KeyFor(t, "plain@hk.test")
	p.HKP(plain)
	p.Zone("hk.test")
	p.Start(nil)

	// For the record: what GnuPG's --locate-external-keys takes here.
	gpg := p.Locate("clear,wkd,keyserver", "revoked@wa.test")
	t.Logf("gpg --locate-external-keys (wkd,keyserver) for revoked@wa.test: %v (the keyserver's key is %s)",
		gpg["revoked@wa.test"], planted.Fpr)

	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, _ := dirblob.New(t.TempDir())
	ca, _ := p.Cert.Files(t)
	env := map[string]string{keyaction.EnvHKPServers: p.HKPURL(), keyaction.EnvDNSServer: p.DNSAddr(),
		netguard.EnvAllow: p.Net + "0/24", keyaction.EnvSources: "wkd,hkp", keyaction.EnvCAFile: ca}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	core, err := keyaction.Build(func(k string) string { return env[k] },
		keyaction.Deps{Store: st, Blobs: blobs, Emitter: egressPublished{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: "key-action"}, contract.Caliopen(), core, log)
	u, _ := st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: "x"})
	c, err := st.CreateContact(ctx, store.Contact{UserID: u.ID, Title: "two",
		Emails: []store.ContactEmail{{Address: "revoked@wa.test"}, {Address: "plain@hk.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(contract.ContactOrder{Order: contract.OrderDiscoverKey, ContactID: c.ID, UserID: u.ID})
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	req.Header.Set("X-Nats-Subject", contract.SubjectKeyAction)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("discover_key = %d %s", rec.Code, rec.Body)
	}
	keys, err := st.ListPublicKeys(ctx, u.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range keys {
		for _, e := range k.Emails {
			got[e] = k.Fingerprint
		}
	}
	if fpr, ok := got["revoked@wa.test"]; ok {
		t.Errorf("key %s stored for revoked@wa.test (planted %s): HKP was asked after the WKD's revoked key", fpr, planted.Fpr)
	}
	if got["plain@hk.test"] != plain.Fpr || len(keys) != 1 {
		t.Errorf("keys %v, want only plain@hk.test's %s from the keyserver", got, plain.Fpr)
	}
}
