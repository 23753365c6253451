package keydiscovery_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/keydiscovery/keytest"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// found describes a result as "address source fingerprint".
func found(r keydiscovery.Result) []string {
	var out []string
	for _, k := range r.Keys {
		out = append(out, k.Address+" "+k.Source+" "+k.Fingerprint)
	}
	sort.Strings(out)
	return out
}

func TestDiscoverPerSource(t *testing.T) {
	w := keytest.NewWorld(t)
	adv, direct := keytest.KeyFor(t, "adv@a.test"), keytest.KeyFor(t, "Direct@b.test")
	w.WKD("adv@a.test", adv.Bin, true)
	w.WKD("Direct@b.test", direct.Bin, false)
	dane := keytest.KeyFor(t, "dane@c.test")
	w.DNS.OpenPGPKey("dane@c.test", dane.Bin)
	w.DNS.SetSigned("c.test.")
	hkp1, hkp2 := keytest.KeyFor(t, "hkp@d.test"), keytest.KeyFor(t, "hkp@d.test")
	w.HKP.Add("hkp@d.test", hkp1)
	w.HKP.Add("hkp@d.test", hkp2)
	ac := keytest.KeyFor(t, "ac@e.test")
	autocrypt := &keydiscovery.Autocrypt{Mail: func(_ context.Context, addr string) ([]keydiscovery.MailHeaders, error) {
		if addr != "ac@e.test" {
			return nil, nil
		}
		return []keydiscovery.MailHeaders{{From: "ac@e.test", Date: time.Now().Add(-time.Hour),
			Autocrypt: []string{"addr=ac@e.test; keydata=" + b64(ac.Bin)}}}, nil
	}}

	d := w.Discoverer(5 * time.Second)
	addrs := []string{"adv@a.test", "Direct@b.test", "dane@c.test", "hkp@d.test", "ac@e.test", "none@a.test"}
	res := d.Discover(context.Background(), addrs, nil, autocrypt)
	want := []string{
		"Direct@b.test wkd " + direct.Fpr, "ac@e.test autocrypt " + ac.Fpr, "adv@a.test wkd " + adv.Fpr,
		"dane@c.test dane " + dane.Fpr, "hkp@d.test hkp " + hkp1.Fpr, "hkp@d.test hkp " + hkp2.Fpr,
	}
	sort.Strings(want)
	if got := found(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("found\n %q\nwant\n %q", got, want)
	}
	for _, k := range res.Keys {
		switch k.Source {
		case store.KeySourceDANE:
			if !k.Authenticated || !strings.HasSuffix(k.Origin, "._openpgpkey.c.test.") {
				t.Errorf("dane key: authenticated %v origin %s, want the AD bit recorded", k.Authenticated, k.Origin)
			}
		case store.KeySourceWKD:
			if k.Address == "adv@a.test" && !strings.HasPrefix(k.Origin, "https://openpgpkey.a.test:") {
				t.Errorf("advanced method not used: %s", k.Origin)
			}
			if k.Address == "Direct@b.test" && (!strings.HasPrefix(k.Origin, "https://b.test:") || !strings.Contains(k.Origin, "?l=Direct")) {
				t.Errorf("direct method not used: %s", k.Origin)
			}
		}
	}
	if len(res.Errors) != 0 || len(res.Refused) != 0 {
		t.Errorf("errors %v refused %v", res.Errors, res.Refused)
	}

	// Known fingerprints are skipped; a key found twice is recorded once.
	w.HKP.Add("adv@a.test", adv)
	again := d.Discover(context.Background(), []string{"adv@a.test", "hkp@d.test"}, map[string]bool{hkp1.Fpr: true})
	if got := found(again); fmt.Sprint(got) != fmt.Sprint([]string{"adv@a.test wkd " + adv.Fpr, "hkp@d.test hkp " + hkp2.Fpr}) {
		t.Errorf("with a known key: %q", got)
	}
	// Without an AD bit the DANE answer is recorded as unauthenticated.
	w.DNS.SetSigned("")
	if r := d.Discover(context.Background(), []string{"dane@c.test"}, nil); len(r.Keys) != 1 || r.Keys[0].Authenticated {
		t.Errorf("unsigned dane answer: %+v", r.Keys)
	}
}

func b64(b []byte) string {
	var sb strings.Builder
	enc := []byte(base64.StdEncoding.EncodeToString(b))
	for i := 0; i < len(enc); i += 76 {
		sb.Write(enc[i:min(i+76, len(enc))])
		sb.WriteString("\r\n ")
	}
	return sb.String()
}

func TestDiscoverRefuses(t *testing.T) {
	w := keytest.NewWorld(t)
	now := time.Now()
	other := keytest.KeyFor(t, "someone-else@a.test")
	w.WKD("victim@a.test", other.Bin, true)
	revoked := keytest.NewKey(t, "revoked@b.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
			t.Fatal(err)
		}
	})
	w.WKD("revoked@b.test", revoked.Bin, true)
	expired := keytest.NewKey(t, "expired@c.test", now.Add(-48*time.Hour), 24*3600, nil)
	w.DNS.OpenPGPKey("expired@c.test", expired.Bin)
	w.DNS.Host("openpgpkey.big.test")

	res := w.Discoverer(5*time.Second).Discover(context.Background(),
		[]string{"victim@a.test", "revoked@b.test", "expired@c.test", "x@big.test"}, nil)
	if len(res.Keys) != 0 {
		t.Errorf("kept %q", found(res))
	}
	want := map[string]error{"victim@a.test": keydiscovery.ErrNoUserID, "revoked@b.test": keydiscovery.ErrRevoked, "expired@c.test": keydiscovery.ErrExpired}
	for _, r := range res.Refused {
		if !errors.Is(r.Err, want[r.Address]) {
			t.Errorf("%s refused for %v, want %v", r.Address, r.Err, want[r.Address])
		}
		delete(want, r.Address)
	}
	if len(want) != 0 {
		t.Errorf("not refused: %v", want)
	}
	var big bool
	for _, e := range res.Errors {
		big = big || e.Address == "x@big.test" && errors.Is(e.Err, netguard.ErrTooLarge)
	}
	if !big {
		t.Errorf("a 2 MiB answer was not refused as too large: %v", res.Errors)
	}
}

func TestDiscoverHangingSource(t *testing.T) {
	w := keytest.NewWorld(t)
	wkdKey, hkpKey := keytest.KeyFor(t, "x@hang.test"), keytest.KeyFor(t, "x@hang.test")
	w.DNS.Host("openpgpkey.hang.test")
	w.HKP.Add("x@hang.test", hkpKey)
	dane := keytest.KeyFor(t, "y@slow.test")
	w.DNS.OpenPGPKey("y@slow.test", dane.Bin)
	w.DNS.SetHang("._openpgpkey.hang.test.")
	_ = wkdKey
	start := time.Now()
	res := w.Discoverer(500*time.Millisecond).Discover(context.Background(), []string{"x@hang.test", "y@slow.test"}, nil)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Discover took %v with a 500ms timeout per lookup", el)
	}
	if got := found(res); fmt.Sprint(got) != fmt.Sprint([]string{"x@hang.test hkp " + hkpKey.Fpr, "y@slow.test dane " + dane.Fpr}) {
		t.Errorf("found %q, want the HKP and DANE keys despite the hanging WKD and DNS", got)
	}
	timedOut := map[string]bool{}
	for _, e := range res.Errors {
		if errors.Is(e.Err, context.DeadlineExceeded) || strings.Contains(e.Err.Error(), "timeout") {
			timedOut[e.Source] = true
		}
	}
	if !timedOut[store.KeySourceWKD] || !timedOut[store.KeySourceDANE] {
		t.Errorf("timeouts recorded for %v, want wkd and dane: %v", timedOut, res.Errors)
	}
}

func TestDiscoverRefusesLoopbackByDefault(t *testing.T) {
	w := keytest.NewWorld(t)
	k := keytest.KeyFor(t, "x@a.test")
	w.WKD("x@a.test", k.Bin, true)
	w.HKP.Add("x@a.test", k)
	client := (netguard.Guard{}).Client(netguard.ClientConfig{Timeout: 2 * time.Second, RootCAs: w.Cert.Pool,
		Resolver: w.DNS.Resolver()})
	d := &keydiscovery.Discoverer{Sources: []keydiscovery.Source{
		&keydiscovery.WKD{Client: client, Resolver: w.DNS.Resolver(), Port: w.WKDPort, MaxBytes: 1 << 20},
		&keydiscovery.HKP{Client: client, URL: w.HKPURL, MaxBytes: 1 << 20, MaxKeys: 5},
	}, Timeout: 2 * time.Second, Limits: keydiscovery.DefaultLimits}
	res := d.Discover(context.Background(), []string{"x@a.test"}, nil)
	if len(res.Keys) != 0 || len(res.Errors) != 2 {
		t.Fatalf("keys %q errors %v", found(res), res.Errors)
	}
	for _, e := range res.Errors {
		if !errors.Is(e.Err, netguard.ErrForbidden) {
			t.Errorf("%s: %v, want ErrForbidden", e.Source, e.Err)
		}
	}
}

func TestKeysLimits(t *testing.T) {
	now := time.Now()
	k1, k2 := keytest.KeyFor(t, "a@x.test"), keytest.KeyFor(t, "a@x.test")
	both := append(append([]byte(nil), k1.Bin...), k2.Bin...)
	if keys, errs := keydiscovery.Keys(both, "A@X.test", now, keydiscovery.DefaultLimits); len(keys) != 2 || len(errs) != 0 {
		t.Errorf("two keys: %d kept, %v", len(keys), errs)
	}
	if keys, errs := keydiscovery.Keys(both, "a@x.test", now, keydiscovery.Limits{MaxBytes: 1 << 20, MaxKeys: 1}); len(keys) != 0 || !errors.Is(errs[0], keydiscovery.ErrTooManyKey) {
		t.Errorf("two keys, at most one: %d kept, %v", len(keys), errs)
	}
	if keys, errs := keydiscovery.Keys(both, "a@x.test", now, keydiscovery.Limits{MaxBytes: len(both) - 1, MaxKeys: 5}); len(keys) != 0 || len(errs) != 1 {
		t.Errorf("one byte over: %d kept, %v", len(keys), errs)
	}
	if keys, errs := keydiscovery.Keys([]byte(k1.Armored), "a@x.test", now, keydiscovery.DefaultLimits); len(keys) != 1 || keys[0].Fingerprint != k1.Fpr ||
		keys[0].Algorithm != "eddsa" || len(errs) != 0 {
		t.Errorf("armored key: %+v %v", keys, errs)
	}
	if _, errs := keydiscovery.Keys([]byte("garbage"), "a@x.test", now, keydiscovery.DefaultLimits); !errors.Is(errs[0], keydiscovery.ErrNoKey) {
		t.Errorf("garbage: %v", errs)
	}
}

func TestDiscoverFallback(t *testing.T) {
	w := keytest.NewWorld(t)
	wkd, hkpX, hkpY := keytest.KeyFor(t, "x@a.test"), keytest.KeyFor(t, "x@a.test"), keytest.KeyFor(t, "y@d.test")
	w.WKD("x@a.test", wkd.Bin, true)
	w.HKP.Add("x@a.test", hkpX)
	w.HKP.Add("y@d.test", hkpY)
	d := w.Discoverer(5 * time.Second)
	d.Fallback, d.Sources = d.Sources[2:], d.Sources[:2] // HKP asked last
	got := found(d.Discover(context.Background(), []string{"x@a.test", "y@d.test"}, nil))
	want := []string{"x@a.test wkd " + wkd.Fpr, "y@d.test hkp " + hkpY.Fpr}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("found %q, want %q (the keyserver asked only for y)", got, want)
	}
	// A known key counts as found: the keyserver is not asked either.
	if got := found(d.Discover(context.Background(), []string{"x@a.test"}, map[string]bool{wkd.Fpr: true})); len(got) != 0 {
		t.Errorf("with x's WKD key known: %q", got)
	}
}

// TestWKDIsAuthoritative: a domain's WKD that serves only a revoked or an
// expired key for an address, or publishes a directory without the
// address, ends its discovery: the keyserver's key for it (anyone can
// upload one) is not taken; a domain without WKD still falls back to HKP.
// A WKD key is kept with the user ids of the address only.
func TestWKDIsAuthoritative(t *testing.T) {
	w := keytest.NewWorld(t)
	now := time.Now()
	revoked := keytest.NewKey(t, "rev@a.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
			t.Fatal(err)
		}
	})
	w.WKD("rev@a.test", revoked.Bin, true)
	w.WKD("old@b.test", keytest.NewKey(t, "old@b.test", now.Add(-48*time.Hour), 24*3600, nil).Bin, false)
	w.Policy("c.test", true) // a WKD without nokey@c.test
	// good@a.test's key carries an address of another domain too.
	good := keytest.NewKey(t, "good@a.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.AddUserId("Other", "", "someone@elsewhere.test", nil); err != nil {
			t.Fatal(err)
		}
	})
	w.WKD("good@a.test", good.Bin, true)
	planted := map[string]keytest.Key{}
	for _, a := range []string{"rev@a.test", "old@b.test", "nokey@c.test", "plain@d.test"} {
		planted[a] = keytest.KeyFor(t, a)
		w.HKP.Add(a, planted[a])
	}
	d := w.Discoverer(5 * time.Second)
	d.Fallback = []keydiscovery.Source{d.Sources[2]} // HKP, as key-action wires it
	d.Sources = d.Sources[:2]
	res := d.Discover(context.Background(), []string{"rev@a.test", "old@b.test", "nokey@c.test", "plain@d.test", "good@a.test"}, nil)
	want := []string{"good@a.test wkd " + good.Fpr, "plain@d.test hkp " + planted["plain@d.test"].Fpr}
	if got := found(res); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("found\n %q\nwant\n %q", got, want)
	}
	ended := map[string]error{}
	for _, e := range res.Ended {
		ended[e.Address] = e.Err
	}
	for addr, why := range map[string]error{"rev@a.test": keydiscovery.ErrRevoked, "old@b.test": keydiscovery.ErrExpired,
		"nokey@c.test": keydiscovery.ErrWKDNoKey} {
		if !errors.Is(ended[addr], why) {
			t.Errorf("%s ended with %v, want %v", addr, ended[addr], why)
		}
	}
	if len(res.Ended) != 3 || len(res.Errors) != 0 {
		t.Errorf("ended %v, errors %v", res.Ended, res.Errors)
	}
	for _, k := range res.Keys {
		if k.Address != "good@a.test" {
			continue
		}
		if fmt.Sprint(k.Emails) != "[good@a.test]" {
			t.Errorf("emails %v", k.Emails)
		}
		kept, _ := keydiscovery.Keys([]byte(k.Armored), "someone@elsewhere.test", now, keydiscovery.DefaultLimits)
		if len(kept) != 0 {
			t.Error("the stored key still carries someone@elsewhere.test")
		}
	}
}
