package accounts

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestLoginThrottle(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	th := NewLoginThrottle(ThrottleConfig{AddressBurst: 3, AddressEvery: 30 * time.Second, AccountBurst: 5,
		AccountEvery: 10 * time.Second, Keys: 8}, func() time.Time { return now })
	a := netip.MustParseAddr("203.0.113.7")
	fail := func(account string, addr netip.Addr) time.Duration {
		t.Helper()
		at, wait := th.Begin(account, addr)
		if at != nil {
			at.Failed()
		}
		return wait
	}
	for i := range 3 {
		if wait := fail("alice", a); wait != 0 {
			t.Fatalf("attempt %d throttled (%s)", i, wait)
		}
	}
	if wait := fail("bob", a); wait != 30*time.Second {
		t.Errorf("fourth attempt from the address: wait %s, want 30s whatever the account", wait)
	}
	now = now.Add(30 * time.Second)
	if wait := fail("alice", a); wait != 0 {
		t.Errorf("after 30s: wait %s, want a new attempt", wait)
	}

	// An IPv6 /64 is one address.
	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	for i := range 3 {
		fail("carol", netip.MustParseAddr("2001:db8:1:2::"+string(rune('a'+i))))
	}
	if wait := fail("carol", v6); wait == 0 {
		t.Error("another address of the same /64 was not throttled")
	}

	// Successes give the address's token back.
	b := netip.MustParseAddr("198.51.100.1")
	for range 10 {
		at, wait := th.Begin("dave", b)
		if at == nil {
			t.Fatalf("successful logins throttled (%s)", wait)
		}
		at.Succeeded()
	}

	// The account: once its failures are spent, failing addresses wait,
	// a clean one is let through.
	for i := range 5 {
		fail("erin", netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}))
	}
	if wait := fail("erin", netip.AddrFrom4([4]byte{192, 0, 2, 1})); wait != 10*time.Second {
		t.Errorf("failing address on a spent account: wait %s, want 10s", wait)
	}
	if at, wait := th.Begin("erin", netip.MustParseAddr("198.51.100.99")); at == nil {
		t.Errorf("clean address on a spent account refused (%s)", wait)
	}
	at, _ := th.Begin(strings.Repeat("x", 1<<20), netip.MustParseAddr("198.51.100.100"))
	if at != nil {
		at.Failed()
	}
	for _, k := range th.accounts.Keys() {
		if len(k) > MaxNameLen {
			t.Errorf("an account key of %d bytes is kept", len(k))
		}
	}
	if th.addrs.Len() > 8 || th.accounts.Len() > 8 {
		t.Errorf("remembers %d addresses and %d accounts, bound 8", th.addrs.Len(), th.accounts.Len())
	}
}
