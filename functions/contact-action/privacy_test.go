package contactaction

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

var day0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// on returns n exchanges with addr on day d (of day0).
func on(addr string, d, n int) []store.Exchange {
	var out []store.Exchange
	for range n {
		out = append(out, store.Exchange{Address: addr, At: day0.Add(time.Duration(d) * 24 * time.Hour)})
	}
	return out
}

func join(lists ...[]store.Exchange) []store.Exchange {
	var out []store.Exchange
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func TestHistogram(t *testing.T) {
	draft := store.Exchange{Address: "a@x", At: day0, Draft: true}
	for _, tc := range []struct {
		name      string
		in        []store.Exchange
		total     int
		mean, std float64
	}{
		{"none", nil, 0, 0, 0},
		{"one day", on("a@x", 0, 4), 4, 4, 0},
		// days 0..2: 2, 0, 4 → mean 2, variance (0+4+4)/3
		{"gap counts", join(on("a@x", 0, 2), on("a@x", 2, 4)), 6, 2, 1.632993},
		{"best address", join(on("a@x", 0, 1), on("b@x", 0, 3), on("b@x", 1, 1)), 4, 2, 1},
		{"drafts aside", append(on("a@x", 0, 1), draft, draft), 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := histogram(tc.in)
			if got.total != tc.total || abs(got.mean-tc.mean) > 1e-5 || abs(got.pstdDev-tc.std) > 1e-5 {
				t.Errorf("histogram = %+v, want total %d mean %g pstdev %g", got, tc.total, tc.mean, tc.std)
			}
		})
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestCompute(t *testing.T) {
	now := day0.Add(100 * 24 * time.Hour)
	rsa := func(bits int) store.PublicKey { return store.PublicKey{Algorithm: "rsa", Size: bits} }
	expired := store.PublicKey{Algorithm: "rsa", Size: 4096, ExpiresAt: now.Add(-time.Hour)}
	two := []store.ContactEmail{{Address: "a@x"}, {Address: "b@x"}}
	for _, tc := range []struct {
		name                          string
		c                             store.Contact
		ex                            []store.Exchange
		keys                          []store.PublicKey
		technic, comportment, context int
		keySize                       string
	}{
		{"nothing", store.Contact{}, nil, nil, 0, 0, 0, "0"},
		{"small key", store.Contact{}, nil, []store.PublicKey{rsa(1024)}, 15, 0, 0, "1024"},
		{"2048 key", store.Contact{}, nil, []store.PublicKey{rsa(1024), rsa(2048)}, 20, 0, 0, "2048"},
		{"large key", store.Contact{}, nil, []store.PublicKey{rsa(4096)}, 30, 0, 0, "4096"},
		{"curve key", store.Contact{}, nil, []store.PublicKey{{Algorithm: "eddsa", Size: 256}}, 30, 0, 0, "3072"},
		{"expired key ignored", store.Contact{}, nil, []store.PublicKey{expired, rsa(1024)}, 15, 0, 0, "1024"},
		{"9 messages", store.Contact{}, on("a@x", 0, 9), nil, 0, 0, 0, "0"},
		{"10 messages", store.Contact{}, on("a@x", 0, 10), nil, 0, 0, 10, "0"},
		{"phone", store.Contact{Phones: []store.Phone{{Number: "1"}}}, nil, nil, 0, 10, 0, "0"},
		{"3 protocols", store.Contact{Emails: two, Phones: []store.Phone{{Number: "1"}}}, nil, nil, 0, 15, 0, "0"},
		{"2 emails 1 identity", store.Contact{Emails: two, Identities: []store.SocialIdentity{{Type: "twitter", Name: "a"}}},
			nil, nil, 0, 5, 0, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pi, f := compute(tc.c, tc.ex, tc.keys, now)
			if pi.Technic != tc.technic || pi.Comportment != tc.comportment || pi.Context != tc.context || pi.Version != 0 {
				t.Errorf("pi = %+v, want technic %d comportment %d context %d", pi, tc.technic, tc.comportment, tc.context)
			}
			if f[FeatureKeyBestSize] != tc.keySize {
				t.Errorf("%s = %q, want %q", FeatureKeyBestSize, f[FeatureKeyBestSize], tc.keySize)
			}
			if len(f) != 6 {
				t.Errorf("features = %v, want 6", f)
			}
		})
	}
}
