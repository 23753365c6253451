package keyaction

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// gnupgPeers publishes keys for 20 addresses across WKD (advanced and
// direct), DNS OPENPGPKEY and an sks keyserver, plus addresses that must
// find nothing (no key anywhere; a WKD key whose user id is another
// address), starts the servers and returns them with the addresses.
func gnupgPeers(t *testing.T) (*keytest.Peers, []string) {
	p := keytest.NewPeers(t)
	var addrs []string
	add := func(addr string, publish func(string, keytest.Key)) {
		k := keytest.KeyFor(t, addr)
		publish(addr, k)
		addrs = append(addrs, addr)
	}
	for i := range 6 {
		add(fmt.Sprintf("w%d@wa.test", i), func(a string, k keytest.Key) { p.WKD(a, k, true) })
	}
	for i := range 3 {
		add(fmt.Sprintf("d%d@wd.test", i), func(a string, k keytest.Key) { p.WKD(a, k, false) })
	}
	for i := range 5 {
		add(fmt.Sprintf("n%d@dn.test", i), p.DANE)
	}
	for i := range 4 {
		add(fmt.Sprintf("h%d@hk.test", i), func(_ string, k keytest.Key) { p.HKP(k) })
	}
	p.Zone("hk.test")
	addrs = append(addrs, "nobody@dn.test")
	p.WKD("mallory@wa.test", keytest.KeyFor(t, "mallory@wa.test"), true) // installed under mallory's hash...
	addrs = append(addrs, "victim@wa.test")                              // ...so victim's is absent: nothing
	return p, addrs
}

// refusedPeers publishes a revoked key on WKD, an expired one in DNS and
// one on sks whose user id is another address, and returns the addresses
// asked about (the last one the neighbour of the key's).
func refusedPeers(t *testing.T, p *keytest.Peers) []string {
	now := time.Now()
	p.WKD("revoked@wa.test", keytest.NewKey(t, "revoked@wa.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
			t.Fatal(err)
		}
	}), true)
	p.DANE("expired@dn.test", keytest.NewKey(t, "expired@dn.test", now.Add(-48*time.Hour), 24*3600, nil))
	p.HKP(keytest.KeyFor(t, "other@hk.test"))
	return []string{"revoked@wa.test", "expired@dn.test", "neighbour@hk.test"}
}

// TestGnuPGAgreement: GnuPG's --locate-external-keys with
// clear,wkd,dane,keyserver and discover_key find the same keys for the
// same 20 addresses against the same servers.
func TestGnuPGAgreement(t *testing.T) {
	p, addrs := gnupgPeers(t)
	refused := refusedPeers(t, p)
	p.Start(nil)
	ctx := context.Background()

	gpg := p.Locate("clear,wkd,dane,keyserver", addrs...)

	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, _ := dirblob.New(t.TempDir())
	env := map[string]string{EnvHKPServers: p.HKPURL(), EnvDNSServer: p.DNSAddr(), netguard.EnvAllow: p.Net + "0/24",
		EnvSources: "wkd,dane,hkp"}
	ca, _ := p.Cert.Files(t)
	env[EnvCAFile] = ca
	// The log goes to a file: os.File writes are safe from the handler's
	// goroutines.
	logs, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	core, err := Build(func(k string) string { return env[k] }, Deps{Store: st, Blobs: blobs, Emitter: &recorder{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := st.CreateUser(ctx, store.User{Name: "bob", PasswordHash: "x"})
	var emails []store.ContactEmail
	for _, a := range addrs {
		emails = append(emails, store.ContactEmail{Address: a})
	}
	c, err := st.CreateContact(ctx, store.Contact{UserID: u.ID, Title: "many", Emails: emails})
	if err != nil {
		t.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: "key-action"}, contract.Caliopen(), core, log)
	f := &fixture{t: t, st: st, h: h, user: u}
	start := time.Now()
	if status, code := f.discover(c.ID); status != 200 {
		t.Fatalf("discover_key = %d %s", status, code)
	}
	t.Logf("discover_key for %d addresses: %v", len(addrs), time.Since(start))
	keys, err := st.ListPublicKeys(ctx, u.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string][]string{}
	sources := map[string]int{}
	for _, k := range keys {
		for _, e := range k.Emails {
			ours[e] = append(ours[e], k.Fingerprint)
		}
		sources[k.Source]++
	}
	found := 0
	for _, a := range addrs {
		sort.Strings(ours[a])
		if strings.Join(gpg[a], ",") != strings.Join(ours[a], ",") {
			t.Errorf("%s: gpg found %v, key-action %v", a, gpg[a], ours[a])
		}
		if len(gpg[a]) > 0 {
			found++
		}
	}
	// Keys key-action refuses: revoked, expired, and none for an address
	// the keyserver has no key of.
	before := len(keys)
	for _, a := range refused {
		if _, err := st.UpdateContact(ctx, store.Contact{ID: c.ID, UserID: u.ID, Title: "many",
			Emails: []store.ContactEmail{{Address: a}}}); err != nil {
			t.Fatal(err)
		}
		if status, code := f.discover(c.ID); status != 200 {
			t.Fatalf("discover_key %s = %d %s", a, status, code)
		}
	}
	if keys, _ := st.ListPublicKeys(ctx, u.ID, c.ID); len(keys) != before {
		t.Errorf("key-action kept %d keys for a revoked, an expired and a mismatched key", len(keys)-before)
	}
	logged, _ := os.ReadFile(logs.Name())
	for _, why := range []string{"key revoked", "key expired"} {
		if !strings.Contains(string(logged), why) {
			t.Errorf("no %q refusal logged:\n%s", why, logged)
		}
	}
	if found != 18 {
		t.Errorf("gpg found keys for %d addresses, want 18 of %d", found, len(addrs))
	}
	if sources["wkd"] != 9 || sources["dane"] != 5 || sources["hkp"] != 4 {
		t.Errorf("sources %v, want wkd 9, dane 5, hkp 4", sources)
	}
}
