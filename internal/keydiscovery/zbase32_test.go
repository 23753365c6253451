package keydiscovery

import "testing"

func TestWKDHash(t *testing.T) {
	// The example of draft-koch-openpgp-webkey-service §3.1.
	if got := WKDHash("Joe.Doe"); got != "iy9q119eutrkn8s1mk4r39qejnbu3n5q" {
		t.Errorf("WKDHash(Joe.Doe) = %s", got)
	}
}

func TestDANEName(t *testing.T) {
	// The example of RFC 7929 §3 (hugh@example.com).
	want := "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._openpgpkey.example.com."
	if got := DANEName("hugh", "example.com"); got != want {
		t.Errorf("DANEName(hugh, example.com) = %s", got)
	}
}

func TestSplitAddress(t *testing.T) {
	for _, tc := range []struct{ in, local, domain string }{
		{"Joe.Doe@Example.ORG", "Joe.Doe", "example.org"},
		{"a@b@c.example", "a@b", "c.example"},
		{"nodomain@", "", ""}, {"@x", "", ""}, {"plain", "", ""}, {"a@evil/x", "", ""},
	} {
		l, d, ok := SplitAddress(tc.in)
		if l != tc.local || d != tc.domain || ok != (tc.local != "") {
			t.Errorf("SplitAddress(%q) = %q %q %v", tc.in, l, d, ok)
		}
	}
}
