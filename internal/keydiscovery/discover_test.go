package keydiscovery

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

	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// found describes a result as "address source fingerprint".
func found(r Result) []string {
	var out []string
	for _, k := range r.Keys {
		out = append(out, k.Address+" "+k.Source+" "+k.Fingerprint)
	}
	sort.Strings(out)
	return out
}

func TestDiscoverPerSource(t *testing.T) {
	w := newWorld(t)
	adv, direct := key(t, "adv@a.test"), key(t, "Direct@b.test")
	w.wkd("adv@a.test", adv.bin, true)
	w.wkd("Direct@b.test", direct.bin, false)
	dane := key(t, "dane@c.test")
	w.dns.openpgpkey("dane@c.test", dane.bin)
	w.dns.signed = "c.test."
	hkp1, hkp2 := key(t, "hkp@d.test"), key(t, "hkp@d.test")
	w.hkp.add("hkp@d.test", hkp1)
	w.hkp.add("hkp@d.test", hkp2)
	ac := key(t, "ac@e.test")
	autocrypt := &Autocrypt{Mail: func(_ context.Context, addr string) ([]MailHeaders, error) {
		if addr != "ac@e.test" {
			return nil, nil
		}
		return []MailHeaders{{From: "ac@e.test", Date: time.Now().Add(-time.Hour),
			Autocrypt: []string{"addr=ac@e.test; keydata=" + b64(ac.bin)}}}, nil
	}}

	d := w.discoverer(5 * time.Second)
	addrs := []string{"adv@a.test", "Direct@b.test", "dane@c.test", "hkp@d.test", "ac@e.test", "none@a.test"}
	res := d.Discover(context.Background(), addrs, nil, autocrypt)
	want := []string{
		"Direct@b.test wkd " + direct.fpr, "ac@e.test autocrypt " + ac.fpr, "adv@a.test wkd " + adv.fpr,
		"dane@c.test dane " + dane.fpr, "hkp@d.test hkp " + hkp1.fpr, "hkp@d.test hkp " + hkp2.fpr,
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
	w.hkp.add("adv@a.test", adv)
	again := d.Discover(context.Background(), []string{"adv@a.test", "hkp@d.test"}, map[string]bool{hkp1.fpr: true})
	if got := found(again); fmt.Sprint(got) != fmt.Sprint([]string{"adv@a.test wkd " + adv.fpr, "hkp@d.test hkp " + hkp2.fpr}) {
		t.Errorf("with a known key: %q", got)
	}
	// Without an AD bit the DANE answer is recorded as unauthenticated.
	w.dns.signed = ""
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
	w := newWorld(t)
	now := time.Now()
	other := key(t, "someone-else@a.test")
	w.wkd("victim@a.test", other.bin, true)
	revoked := newKey(t, "revoked@b.test", now.Add(-time.Hour), 0, func(e *openpgp.Entity) {
		if err := e.RevokeKey(packet.KeyCompromised, "lost", nil); err != nil {
			t.Fatal(err)
		}
	})
	w.wkd("revoked@b.test", revoked.bin, true)
	expired := newKey(t, "expired@c.test", now.Add(-48*time.Hour), 24*3600, nil)
	w.dns.openpgpkey("expired@c.test", expired.bin)
	w.dns.host("openpgpkey.big.test")

	res := w.discoverer(5*time.Second).Discover(context.Background(),
		[]string{"victim@a.test", "revoked@b.test", "expired@c.test", "x@big.test"}, nil)
	if len(res.Keys) != 0 {
		t.Errorf("kept %q", found(res))
	}
	want := map[string]error{"victim@a.test": ErrNoUserID, "revoked@b.test": ErrRevoked, "expired@c.test": ErrExpired}
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
	w := newWorld(t)
	wkdKey, hkpKey := key(t, "x@hang.test"), key(t, "x@hang.test")
	w.dns.host("openpgpkey.hang.test")
	w.hkp.add("x@hang.test", hkpKey)
	dane := key(t, "y@slow.test")
	w.dns.openpgpkey("y@slow.test", dane.bin)
	w.dns.hang = "._openpgpkey.hang.test."
	_ = wkdKey
	start := time.Now()
	res := w.discoverer(500*time.Millisecond).Discover(context.Background(), []string{"x@hang.test", "y@slow.test"}, nil)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Discover took %v with a 500ms timeout per lookup", el)
	}
	if got := found(res); fmt.Sprint(got) != fmt.Sprint([]string{"x@hang.test hkp " + hkpKey.fpr, "y@slow.test dane " + dane.fpr}) {
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
	w := newWorld(t)
	k := key(t, "x@a.test")
	w.wkd("x@a.test", k.bin, true)
	w.hkp.add("x@a.test", k)
	client := (netguard.Guard{}).Client(netguard.ClientConfig{Timeout: 2 * time.Second, RootCAs: w.cert.Pool,
		Resolver: w.dns.resolver()})
	d := &Discoverer{Sources: []Source{
		&WKD{Client: client, Resolver: w.dns.resolver(), Port: w.wkdPort, MaxBytes: 1 << 20},
		&HKP{Client: client, URL: w.hkpURL, MaxBytes: 1 << 20, MaxKeys: 5},
	}, Timeout: 2 * time.Second, Limits: DefaultLimits}
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
