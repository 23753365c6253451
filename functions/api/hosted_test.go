package api_test

import (
	"net/http"
	"testing"
)

// TestHostedAddresses: a user takes only their own name or name+tag; role
// addresses and other people's names are the admin's to assign, so the
// admin's later user creation cannot be blocked by a user's claim.
func TestHostedAddresses(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	alice := e.user("alice", false)
	e.user("admin", true)
	tok, adm := e.login("alice"), e.login("admin")
	post := func(tok, identifier string) response {
		return e.do("POST", "/api/v2/identities/locals", tok, map[string]any{"identifier": identifier})
	}
	for _, addr := range []string{"postmaster", "abuse@example.test", "hostmaster", "noreply", "root", "carol", "alicex",
		"mailer-daemon", "postmaster+alice", "carol+alice"} {
		post(tok, addr).wantError(t, http.StatusForbidden, "forbidden", "admin")
	}
	post(tok, "alice+shop").want(t, http.StatusCreated)
	post(tok, "alice+").wantError(t, http.StatusBadRequest, "invalid_field", "tag")
	post(tok, "a+b+c").wantError(t, http.StatusBadRequest, "invalid_field")

	// The name alice could not take is still free for the admin's user.
	e.do("POST", "/api/v2/admin/users", adm, map[string]any{"name": "carol", "password": "carol-password"}).
		want(t, http.StatusCreated)
	// The admin assigns role addresses, to themselves or to a user.
	post(adm, "postmaster").want(t, http.StatusCreated)
	r := e.do("POST", "/api/v2/admin/users/"+alice.ID+"/identities", adm, map[string]any{"identifier": "abuse", "display_name": "Abuse desk"})
	if got := r.want(t, http.StatusCreated).json(t); got["identifier"] != "abuse@example.test" {
		t.Errorf("assigned %v", got)
	}
	lst := e.do("GET", "/api/v2/identities/locals", tok, nil).want(t, http.StatusOK).json(t)["identities"].([]any)
	if len(lst) != 3 {
		t.Errorf("alice has %d local identities, want alice, alice+shop and abuse", len(lst))
	}
	e.do("POST", "/api/v2/admin/users/"+alice.ID+"/identities", tok, map[string]any{"identifier": "security"}).
		wantError(t, http.StatusForbidden, "forbidden")
	e.do("POST", "/api/v2/admin/users/nope/identities", adm, map[string]any{"identifier": "security"}).
		wantError(t, http.StatusNotFound, "not_found")
}
