package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/store"
)

// TestRemoteIdentityCredentials: credentials are sealed for the identity,
// never shown, and replaced by a PATCH.
func TestRemoteIdentityCredentials(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	u := e.user("alice", false)
	tok := e.login("alice")
	r := e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "email",
		"identifier": "Alice@Remote.Example", "display_name": "Work",
		"infos":       map[string]string{"inserver": "imap.remote.example:993", "outserver": "smtp.remote.example:465"},
		"credentials": map[string]string{"inusername": "alice", "inpassword": "imap-secret-7"}})
	r.want(t, http.StatusCreated)
	if strings.Contains(string(r.body), "imap-secret-7") {
		t.Fatal("the answer shows the password")
	}
	v := r.json(t)
	if v["has_credentials"] != true || v["identifier"] != "alice@remote.example" || v["poll_interval"] != 15.0 ||
		v["status"] != "active" || v["type"] != "remote" || v["infos"].(map[string]any)["authtype"] != "login-password" {
		t.Errorf("identity %s", r.body)
	}
	id := v["identity_id"].(string)
	e.nextOrder()
	open := func() map[string]string {
		t.Helper()
		got, err := e.st.GetIdentity(context.Background(), u.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := e.ring.Open(got.Credentials, []byte(id))
		if err != nil {
			t.Fatalf("open the credentials with the identity id as context: %v", err)
		}
		var m map[string]string
		if err := json.Unmarshal(plain, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got := open(); got["inpassword"] != "imap-secret-7" {
		t.Errorf("sealed credentials %v", got)
	}
	r = e.do("PATCH", "/api/v2/identities/remotes/"+id, tok, map[string]any{"credentials": map[string]string{
		"inusername": "alice", "inpassword": "rotated-9"}, "status": "inactive"})
	r.want(t, http.StatusOK)
	e.nextOrder()
	if got := open(); got["inpassword"] != "rotated-9" || r.json(t)["status"] != "inactive" {
		t.Errorf("after PATCH: credentials %v, identity %s", got, r.body)
	}
	if strings.Contains(e.logs(), "rotated-9") || strings.Contains(e.logs(), "imap-secret-7") {
		t.Error("a password appears in the logs")
	}
	lst := e.do("GET", "/api/v2/identities/remotes", tok, nil).want(t, http.StatusOK).json(t)
	if n := len(lst["identities"].([]any)); n != 1 {
		t.Errorf("%d remote identities listed, want 1", n)
	}
	// A remote identity is not a local one, and the reverse.
	e.do("GET", "/api/v2/identities/locals/"+id, tok, nil).wantError(t, http.StatusNotFound, "not_found")
	e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "email", "identifier": "alice@remote.example"}).
		wantError(t, http.StatusConflict, "conflict")
}

// TestReauthRequired: an identity whose credentials the remote service
// refused shows reauth_required; new credentials make it active again,
// announced with update_identity (polling resumes); the user cannot set
// the status by hand.
func TestReauthRequired(t *testing.T) {
	e := setup(t, options{})
	u := e.user("alice", false)
	tok := e.login("alice")
	id := e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "twitter", "identifier": "alice_tw",
		"credentials": map[string]string{"token": "t1", "secret": "s1"}}).want(t, http.StatusCreated).id(t, "identity_id")
	e.nextOrder()
	if err := e.st.SetIdentityStatus(context.Background(), u.ID, id, store.ReauthRequired); err != nil {
		t.Fatal(err)
	}
	if got := e.do("GET", "/api/v2/identities/remotes/"+id, tok, nil).want(t, http.StatusOK).json(t); got["status"] != "reauth_required" {
		t.Errorf("status %v, want reauth_required", got["status"])
	}
	e.do("PATCH", "/api/v2/identities/remotes/"+id, tok, map[string]any{"status": "reauth_required"}).
		wantError(t, http.StatusBadRequest, "invalid_field")
	e.do("PATCH", "/api/v2/identities/remotes/"+id, tok, map[string]any{"display_name": "X"}).want(t, http.StatusOK)
	e.nextOrder()
	if got, _ := e.st.GetIdentity(context.Background(), u.ID, id); got.Status != store.ReauthRequired {
		t.Errorf("a change without credentials made it %s", got.Status)
	}
	r := e.do("PATCH", "/api/v2/identities/remotes/"+id, tok, map[string]any{"credentials": map[string]string{"token": "t2", "secret": "s2"}})
	if got := r.want(t, http.StatusOK).json(t); got["status"] != "active" {
		t.Errorf("after new credentials: status %v", got["status"])
	}
	if o := e.nextOrder(); !strings.Contains(string(o.data), `"update_identity"`) {
		t.Errorf("order %s, want update_identity", o.data)
	}
}

// TestLocalIdentities: a user adds, renames and removes local addresses
// but keeps one; a taken address is refused.
func TestLocalIdentities(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("alice", false)
	e.user("bob", false)
	tok := e.login("alice")
	lst := e.do("GET", "/api/v2/identities/locals", tok, nil).want(t, http.StatusOK).json(t)
	ids := lst["identities"].([]any)
	if len(ids) != 1 || ids[0].(map[string]any)["identifier"] != "alice@example.test" ||
		ids[0].(map[string]any)["protocol"] != "email" {
		t.Fatalf("locals %v", ids)
	}
	first := ids[0].(map[string]any)["identity_id"].(string)
	e.do("DELETE", "/api/v2/identities/locals/"+first, tok, nil).wantError(t, http.StatusConflict, "conflict", "at least one")
	alias := e.do("POST", "/api/v2/identities/locals", tok, map[string]any{"identifier": "Alice+Sales@example.test", "display_name": "Sales"}).
		want(t, http.StatusCreated).json(t)
	e.do("POST", "/api/v2/identities/locals", tok, map[string]any{"identifier": "alice+sales"}).wantError(t, http.StatusConflict, "conflict", "taken")
	if alias["identifier"] != "alice+sales@example.test" || alias["type"] != "local" {
		t.Errorf("alias %v", alias)
	}
	r := e.do("PATCH", "/api/v2/identities/locals/"+alias["identity_id"].(string), tok, map[string]any{"display_name": "Ventes"})
	if r.want(t, http.StatusOK).json(t)["display_name"] != "Ventes" {
		t.Errorf("renamed %s", r.body)
	}
	e.do("PATCH", "/api/v2/identities/locals/"+first, tok, map[string]any{"status": "inactive"}).
		wantError(t, http.StatusBadRequest, "unknown_field", `"status"`)
	e.do("DELETE", "/api/v2/identities/locals/"+first, tok, nil).want(t, http.StatusNoContent)
	e.noOrder()
}

// TestDraftsAndMessages: a draft gets its sender from its identity, is
// edited, listed and filtered; a received message's raw comes from the blob
// store; notifications are listed.
func TestDraftsAndMessages(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	u := e.user("alice", false)
	tok := e.login("alice")
	ctx := context.Background()
	r := e.do("POST", "/api/v2/messages", tok, map[string]any{"subject": "Hello", "body_plain": "Hi!",
		"participants": []map[string]string{{"type": "to", "address": "bob@example.org", "label": "Bob"},
			{"type": "Bcc", "address": "carol@example.org"}}})
	r.want(t, http.StatusCreated)
	d := r.json(t)
	ps := d["participants"].([]any)
	from := ps[0].(map[string]any)
	if len(ps) != 3 || from["type"] != "From" || from["address"] != "alice@example.test" ||
		ps[1].(map[string]any)["type"] != "To" || d["is_draft"] != true || d["send_state"] != "draft" {
		t.Errorf("draft %s", r.body)
	}
	id := d["message_id"].(string)
	r = e.do("PATCH", "/api/v2/messages/"+id, tok, map[string]any{"subject": "Hello again",
		"participants": []map[string]string{{"type": "Cc", "address": "dan@example.org"}}})
	d = r.want(t, http.StatusOK).json(t)
	if d["subject"] != "Hello again" || len(d["participants"].([]any)) != 2 || d["body_plain"] != "Hi!" {
		t.Errorf("patched draft %s", r.body)
	}

	const rawText = "From: bob@example.org\r\nSubject: news\r\n\r\nbody\r\n"
	if err := e.blobs.Put(ctx, "raw/in-1", strings.NewReader(rawText), int64(len(rawText))); err != nil {
		t.Fatal(err)
	}
	raw, err := e.st.PutRaw(ctx, store.RawMessage{BlobKey: "raw/in-1", Size: int64(len(rawText))})
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := e.st.PutInbound(ctx, store.Message{UserID: u.ID, Subject: "news", IsReceived: true, IsUnread: true,
		RawMsgID: raw.ID, External: store.ExternalRefs{MessageID: "news-1@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/api/v2/messages/"+in.ID+"/raw", tok, nil).want(t, http.StatusOK)
	if string(r.body) != rawText || r.header.Get("Content-Type") != "message/rfc822" {
		t.Errorf("raw %q (%s)", r.body, r.header.Get("Content-Type"))
	}
	e.do("GET", "/api/v2/messages/"+id+"/raw", tok, nil).wantError(t, http.StatusNotFound, "not_found", "raw message")
	e.do("PATCH", "/api/v2/messages/"+in.ID, tok, map[string]any{"subject": "x"}).wantError(t, http.StatusConflict, "not_a_draft")

	for query, want := range map[string]int{"": 2, "?is_draft=true": 1, "?is_draft=false&is_unread=true": 1, "?limit=1": 1} {
		lst := e.do("GET", "/api/v2/messages"+query, tok, nil).want(t, http.StatusOK).json(t)
		if n := len(lst["messages"].([]any)); n != want {
			t.Errorf("GET /messages%s: %d messages, want %d", query, n, want)
		}
		if query == "?limit=1" && lst["next"] == "" {
			t.Error("a first page of one message has no next cursor")
		}
	}

	if _, err := e.st.CreateNotification(ctx, store.Notification{UserID: u.ID, Type: "event", Emitter: "smtp-inbound",
		Reference: in.ID, Body: `{"size":1,"elements":[{"body":{"message_id":"` + in.ID + `"}}]}`}); err != nil {
		t.Fatal(err)
	}
	lst := e.do("GET", "/api/v2/notifications", tok, nil).want(t, http.StatusOK).json(t)
	ns := lst["notifications"].([]any)
	if len(ns) != 1 || ns[0].(map[string]any)["body"].(map[string]any)["size"] != 1.0 {
		t.Errorf("notifications %v", lst)
	}
}

// TestRemoteIdentityQuota: past its DefaultMaxRemotes remote identities a
// user's next one is refused, 403 quota_exceeded naming the limit; after a
// delete there is room again.
func TestRemoteIdentityQuota(t *testing.T) {
	e := setup(t, options{})
	e.user("alice", false)
	tok := e.login("alice")
	create := func(i int) response {
		return e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "email",
			"identifier": fmt.Sprintf("a%d@remote.example", i), "infos": map[string]string{"inserver": "imap.remote.example:993"}})
	}
	var first string
	for i := range api.DefaultMaxRemotes {
		r := create(i)
		r.want(t, http.StatusCreated)
		if i == 0 {
			first = r.json(t)["identity_id"].(string)
		}
	}
	r := create(api.DefaultMaxRemotes)
	r.want(t, http.StatusForbidden)
	if v := r.json(t); v["error"] != "quota_exceeded" || !strings.Contains(v["message"].(string), fmt.Sprint(api.DefaultMaxRemotes)) {
		t.Errorf("over the quota: %s", r.body)
	}
	e.do("DELETE", "/api/v2/identities/remotes/"+first, tok, nil).want(t, http.StatusNoContent)
	create(api.DefaultMaxRemotes+1).want(t, http.StatusCreated)
}
