package accounts

import "testing"

func TestUserMayClaim(t *testing.T) {
	for _, tc := range []struct {
		user, local string
		ok          bool
	}{
		{"alice", "alice", true},
		{"alice", "alice+shop", true},
		{"alice", "alice.shop", false}, // a user name the admin may give someone else
		{"alice", "alicex", false},
		{"alice", "bob", false},
		{"alice", "postmaster", false},
		{"alice", "postmaster+alice", false},
		{"postmaster", "postmaster+x", true}, // the admin named them so
	} {
		if err := UserMayClaim(tc.user, tc.local); (err == nil) != tc.ok {
			t.Errorf("UserMayClaim(%q, %q) = %v, want ok %v", tc.user, tc.local, err, tc.ok)
		}
	}
	for local, ok := range map[string]bool{"alice": true, "alice+shop": true, "alice+": false, "+x": false,
		"a+b+c": false, "alice+x.y": true, "Alice": false} {
		if err := CheckLocalPart(local); (err == nil) != ok {
			t.Errorf("CheckLocalPart(%q) = %v, want ok %v", local, err, ok)
		}
	}
}
