package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/store"
)

// TestBadRequests: malformed JSON, unknown and missing fields, oversized
// bodies, unknown ids and routes each get a 4xx with a JSON error naming
// the problem, and change nothing.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("alice", false)
	tok := e.login("alice")
	contact := e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Carol"}).want(t, http.StatusCreated).id(t, "contact_id")
	e.nextOrder()
	big := `{"title":"` + strings.Repeat("x", 70<<10) + `"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
		msg                      []string
	}{
		{"malformed JSON", "POST", "/api/v2/contacts", `{"title":`, 400, "invalid_json", []string{"ends in the middle"}},
		{"syntax error", "POST", "/api/v2/contacts", `{"title" "x"}`, 400, "invalid_json", []string{"malformed JSON at byte"}},
		{"empty body", "POST", "/api/v2/contacts", ``, 400, "invalid_json", []string{"empty"}},
		{"not an object", "POST", "/api/v2/contacts", `["title"]`, 400, "invalid_json", []string{"JSON object"}},
		{"two values", "POST", "/api/v2/contacts", `{"title":"a"} {"title":"b"}`, 400, "invalid_json", []string{"nothing after it"}},
		{"unknown field", "POST", "/api/v2/contacts", `{"title":"a","nickname":"b"}`, 400, "unknown_field", []string{`"nickname"`}},
		{"unknown field not echoed", "POST", "/api/v2/contacts", `{"title":"a","<img src=x>":"b"}`, 400, "unknown_field", []string{"a field"}},
		{"wrong type", "POST", "/api/v2/contacts", `{"title":42}`, 400, "invalid_field", []string{`"title" must be a string`}},
		{"missing fields", "POST", "/api/v2/authentications", `{}`, 400, "missing_field", []string{`"username"`, `"password"`}},
		{"nothing to name a contact", "POST", "/api/v2/contacts", `{"tags":["x"]}`, 400, "missing_field", []string{"a contact needs"}},
		{"bad address", "POST", "/api/v2/contacts", `{"emails":[{"address":"not an address"}]}`, 400, "invalid_field", []string{"emails[0].address"}},
		{"empty patch", "PATCH", "/api/v2/contacts/" + contact, `{}`, 400, "missing_field", []string{"nothing to change"}},
		{"oversized body", "POST", "/api/v2/contacts", big, 413, "body_too_large", []string{"65536 bytes"}},
		{"unknown contact", "GET", "/api/v2/contacts/00000000-0000-0000-0000-000000000000", "", 404, "not_found", []string{"contact"}},
		{"unknown contact patch", "PATCH", "/api/v2/contacts/nope", `{"title":"x"}`, 404, "not_found", []string{"contact"}},
		{"unknown message", "GET", "/api/v2/messages/nope", "", 404, "not_found", []string{"message"}},
		{"unknown identity", "DELETE", "/api/v2/identities/remotes/nope", "", 404, "not_found", []string{"identity"}},
		{"unknown key", "DELETE", "/api/v2/contacts/" + contact + "/publickeys/nope", "", 404, "not_found", []string{"public key"}},
		{"unknown route", "GET", "/api/v2/nothing-here", "", 404, "not_found", []string{"no such route"}},
		{"wrong method", "PUT", "/api/v2/contacts", `{}`, 405, "method_not_allowed", []string{"Allow"}},
		{"bad limit", "GET", "/api/v2/contacts?limit=zero", "", 400, "invalid_field", []string{"limit"}},
		{"bad cursor", "GET", "/api/v2/messages?after=%21%21", "", 400, "invalid_field", []string{"cursor"}},
		{"bad flag", "GET", "/api/v2/messages?is_draft=maybe", "", 400, "invalid_field", []string{"is_draft"}},
		{"bad protocol", "POST", "/api/v2/identities/remotes", `{"protocol":"carrier-pigeon","identifier":"x"}`, 400, "invalid_field", []string{"email, imap, smtp, twitter"}},
		{"bad poll interval", "POST", "/api/v2/identities/remotes", `{"protocol":"email","identifier":"a@b.example","poll_interval":0}`, 400, "invalid_field", []string{"poll_interval"}},
		{"bad key", "POST", "/api/v2/contacts/" + contact + "/publickeys", `{"key":"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnope\n-----END PGP PUBLIC KEY BLOCK-----"}`, 422, "invalid_key", []string{"OpenPGP"}},
		{"bad recipient", "POST", "/api/v2/messages", `{"participants":[{"type":"From","address":"x"}]}`, 400, "invalid_field", []string{"participants[0].type", "participants[0].address"}},
		{"foreign sender", "POST", "/api/v2/messages", `{"identity_id":"nope"}`, 422, "unknown_identity", []string{"identity_id"}},
		{"local in another domain", "POST", "/api/v2/identities/locals", `{"identifier":"x@elsewhere.example"}`, 400, "invalid_field", []string{"example.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			var body any
			if tc.body != "" || tc.method == "POST" {
				body = tc.body
			}
			r := e.do(tc.method, tc.path, tok, body)
			r.wantError(t, tc.status, tc.code, tc.msg...)
			for _, echo := range []string{"carrier-pigeon", "<img"} {
				if strings.Contains(string(r.body), echo) {
					t.Errorf("answer %s echoes the caller's %q", r.body, echo)
				}
			}
			if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
	e.noOrder()
	r := e.do("POST", "/api/v2/contacts", tok, `{"title":"x"}`, "Content-Type", "text/plain")
	r.wantError(t, http.StatusUnsupportedMediaType, "unsupported_media_type", "application/json")
	lst := e.do("GET", "/api/v2/contacts", tok, nil).want(t, http.StatusOK).json(t)
	if n := len(lst["contacts"].([]any)); n != 1 {
		t.Errorf("%d contacts after the refused requests, want 1", n)
	}
}

// TestAuthentication: login, the token, logout; every failure is a 401
// that says nothing about which part was wrong.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("alice", false)
	r := e.do("POST", "/api/v2/authentications", "", map[string]string{"username": "alice", "password": "alice-password"})
	r.want(t, http.StatusOK)
	ans := r.json(t)
	tok := ans["access_token"].(string)
	if ans["token_type"] != "Bearer" || len(tok) != 43 || ans["expires_at"] == "" {
		t.Errorf("login answer %s", r.body)
	}
	wrong := e.do("POST", "/api/v2/authentications", "", map[string]string{"username": "alice", "password": "nope-nope"})
	unknown := e.do("POST", "/api/v2/authentications", "", map[string]string{"username": "mallory", "password": "nope-nope"})
	wrong.wantError(t, http.StatusUnauthorized, "bad_credentials")
	unknown.wantError(t, http.StatusUnauthorized, "bad_credentials")
	if string(wrong.body) != string(unknown.body) {
		t.Errorf("wrong password %s and unknown user %s answer differently", wrong.body, unknown.body)
	}
	me := e.do("GET", "/api/v2/me", tok, nil).want(t, http.StatusOK).json(t)
	if me["name"] != "alice" || me["is_admin"] != false {
		t.Errorf("me = %v", me)
	}
	if _, leaked := me["password_hash"]; leaked {
		t.Error("me shows the password hash")
	}
	for name, header := range map[string]string{"none": "", "basic": "Basic YWxpY2U6eA==", "empty bearer": "Bearer ",
		"garbage": "Bearer not-a-token", "unknown": "Bearer " + strings.Repeat("A", 43)} {
		r := e.do("GET", "/api/v2/me", "", nil, "Authorization", header)
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", name)
		}
	}
	e.do("POST", "/api/v2/admin/users", tok, map[string]any{"name": "x", "password": "x-password"}).
		wantError(t, http.StatusForbidden, "forbidden")
	e.do("DELETE", "/api/v2/authentications", tok, nil).want(t, http.StatusNoContent)
	e.do("GET", "/api/v2/me", tok, nil).wantError(t, http.StatusUnauthorized, "unauthorized", "invalid or expired")
	e.do("DELETE", "/api/v2/authentications", tok, nil).wantError(t, http.StatusUnauthorized, "unauthorized")
}

// TestLogLines: one JSON line per request with stable keys, and never a
// password, a token or a body.
func TestLogLines(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("alice", false)
	tok := e.login("alice")
	e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Secret Contact Name"}, "X-Correlation-Id", "c-1").
		want(t, http.StatusCreated)
	e.nextOrder()
	e.do("GET", "/api/v2/nothing", tok, nil).want(t, http.StatusNotFound)
	e.do("POST", "/api/v2/authentications", "", map[string]string{"username": "alice", "password": "wrong-password-x"}).
		want(t, http.StatusUnauthorized)
	logs := e.logs()
	for _, secret := range []string{tok, "alice-password", "wrong-password-x", "Secret Contact Name"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d log lines, want 4 (one per request):\n%s", len(lines), logs)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		for _, k := range []string{"fn", "method", "route", "user_id", "corr_id", "status", "outcome", "duration_ms"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line lacks %q: %s", k, l)
			}
		}
	}
	var create map[string]any
	_ = json.Unmarshal([]byte(lines[1]), &create)
	if create["route"] != "POST /api/v2/contacts" || create["corr_id"] != "c-1" || create["subject"] != "contactAction" ||
		create["order"] != "contact_update" || create["status"] != 201.0 || create["outcome"] != "ok" {
		t.Errorf("log line of the contact creation: %v", create)
	}
}

// panicky is a store whose notification list panics.
type panicky struct{ *store.SQL }

func (panicky) ListNotifications(context.Context, string, store.Page) ([]store.Notification, string, error) {
	panic("boom")
}

// TestPanic: a panic in a handler answers 500 in JSON and is logged with
// its stack; the server goes on.
func TestPanic(t *testing.T) {
	t.Parallel()
	p, err := startPlatform(t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	var logs strings.Builder
	deps := p.deps(&logs)
	deps.Store = panicky{p.st}
	h, err := api.New(api.Config{BcryptCost: bcrypt.MinCost}, deps)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(accounts.Config{LocalDomain: "caliopen.local", BcryptCost: bcrypt.MinCost}, p.st)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := acc.CreateUser(context.Background(), accounts.NewUser{Name: "alice", Password: "alice-password"}); err != nil {
		t.Fatal(err)
	}
	ses, err := acc.Login(context.Background(), "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req := httptest.NewRequest("GET", "/api/v2/notifications", nil)
		req.Header.Set("Authorization", "Bearer "+ses.Token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error":"internal"`) {
			t.Errorf("panic answered %d %s", w.Code, w.Body)
		}
	}
	if !strings.Contains(logs.String(), `"outcome":"panic"`) || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the panic is not logged with its stack: %s", logs.String())
	}
}
