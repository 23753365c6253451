package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestLoginThrottle: 200 wrong passwords from one address are throttled
// with Retry-After after the address's free attempts (and even the right
// password is then refused from there, without a bcrypt comparison); the
// user logs in from another address all along.
func TestLoginThrottle(t *testing.T) {
	e := setup(t, options{})
	e.user("alice", false)
	login := func(password, addr string) response {
		return e.do("POST", "/api/v2/authentications", "", map[string]string{"username": "alice", "password": password},
			"X-Forwarded-For", addr)
	}
	var unauthorized, throttled int
	for i := range 200 {
		r := login("guess-"+strconv.Itoa(i), "203.0.113.7")
		switch r.status {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			throttled++
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 60 {
				t.Fatalf("Retry-After %q, want a few seconds", r.header.Get("Retry-After"))
			}
			r.wantError(t, http.StatusTooManyRequests, "throttled", "retry in")
		default:
			t.Fatalf("attempt %d: %d %s", i, r.status, r.body)
		}
	}
	if unauthorized != 10 || throttled != 190 {
		t.Errorf("%d answered 401 and %d throttled; want 10 and 190", unauthorized, throttled)
	}
	if r := login("alice-password", "203.0.113.7"); r.status != http.StatusTooManyRequests {
		t.Errorf("right password from the throttled address: %d, want 429", r.status)
	}
	// The guesses on record cost no bcrypt work past the tenth: the log
	// says which attempts were evaluated.
	if n := strings.Count(e.logs(), `"bad_credentials`); n != 10 {
		t.Errorf("%d attempts evaluated, want 10", n)
	}
	login("alice-password", "198.51.100.20").want(t, http.StatusOK)

	// Guesses spread over many addresses exhaust the account's failures;
	// then an address that failed before is refused on it, a clean one
	// (the user's own) still logs in.
	for i := range 30 {
		login("guess", "192.0.2."+strconv.Itoa(i+1))
	}
	if r := login("guess-again", "192.0.2.1"); r.status != http.StatusTooManyRequests {
		t.Errorf("a failing address on a throttled account: %d, want 429", r.status)
	}
	login("alice-password", "198.51.100.21").want(t, http.StatusOK)
	login("alice-password", "198.51.100.20").want(t, http.StatusOK)
}
