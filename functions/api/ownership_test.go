package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// fixture is one of everything alice owns, made afresh for each route.
type fixture struct {
	ids map[string]string // placeholder → id
}

// fixtures gives alice a second local identity, a remote identity, a
// contact with a key, a draft, a received message with its raw message and
// a notification.
func (e *env) fixtures(alice store.User, n int) fixture {
	e.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
	}
	local, err := e.st.CreateIdentity(ctx, store.Identity{UserID: alice.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: fmt.Sprintf("alice%d@example.test", n)})
	must(err)
	remote, err := e.st.CreateIdentity(ctx, store.Identity{UserID: alice.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: fmt.Sprintf("alice%d@remote.example", n), PollInterval: 15 * time.Minute})
	must(err)
	ct, err := e.st.CreateContact(ctx, store.Contact{UserID: alice.ID, Title: "Friend",
		Emails: []store.ContactEmail{{Address: "friend@example.org"}}})
	must(err)
	key, err := e.st.UpsertPublicKey(ctx, store.PublicKey{UserID: alice.ID, ContactID: ct.ID,
		Fingerprint: fmt.Sprintf("%040X", n), Armored: "k"})
	must(err)
	draft, err := e.st.CreateDraft(ctx, store.Message{UserID: alice.ID, IdentityIDs: []string{local.ID},
		Protocol: store.ProtocolEmail, Subject: "draft", Participants: []store.Participant{
			{Type: "From", Address: local.Identifier}, {Type: "To", Address: "friend@example.org"}}})
	must(err)
	rawKey := fmt.Sprintf("raw/%d", n)
	const rawText = "Subject: hi\r\n\r\nhello\r\n"
	must(e.blobs.Put(ctx, rawKey, strings.NewReader(rawText), int64(len(rawText))))
	raw, err := e.st.PutRaw(ctx, store.RawMessage{BlobKey: rawKey, Size: int64(len(rawText))})
	must(err)
	msg, _, err := e.st.PutInbound(ctx, store.Message{UserID: alice.ID, IdentityIDs: []string{local.ID},
		Protocol: store.ProtocolEmail, Subject: "hi", IsReceived: true, RawMsgID: raw.ID,
		External: store.ExternalRefs{MessageID: fmt.Sprintf("m%d@example.org", n)}})
	must(err)
	notif, err := e.st.CreateNotification(ctx, store.Notification{UserID: alice.ID, Type: "event", Body: `{"size":1}`})
	must(err)
	return fixture{ids: map[string]string{"{local}": local.ID, "{remote}": remote.ID, "{contact}": ct.ID,
		"{key}": key.ID, "{draft}": draft.ID, "{msg}": msg.ID, "{notif}": notif.ID, "{alice}": alice.ID}}
}

// fill replaces the placeholders of s.
func (f fixture) fill(s string) string {
	for k, v := range f.ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// snapshot is everything alice and the admin have, as JSON.
func (e *env) snapshot(users ...store.User) string {
	e.t.Helper()
	ctx := context.Background()
	var all []any
	for _, u := range users {
		got, err := e.st.GetUser(ctx, u.ID)
		ids, err2 := e.st.ListIdentities(ctx, u.ID, store.IdentityFilter{})
		cts, _, err3 := e.st.ListContacts(ctx, u.ID, store.Page{Limit: store.MaxLimit})
		keys, err4 := e.st.ListPublicKeys(ctx, u.ID, "")
		msgs, _, err5 := e.st.ListMessages(ctx, u.ID, store.MessageFilter{}, store.Page{Limit: store.MaxLimit})
		ns, _, err6 := e.st.ListNotifications(ctx, u.ID, store.Page{Limit: store.MaxLimit})
		for _, err := range []error{err, err2, err3, err4, err5, err6} {
			if err != nil {
				e.t.Fatal(err)
			}
		}
		all = append(all, got, ids, cts, keys, msgs, ns)
	}
	users2, _, err := e.st.ListUsers(ctx, store.Page{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	all = append(all, users2)
	b, err := json.Marshal(all)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// drainOrders returns the orders that arrived, waiting a moment.
func (e *env) drainOrders() []order {
	var out []order
	timeout := time.After(30 * time.Millisecond)
	for {
		select {
		case o := <-e.orders:
			out = append(out, o)
		case <-timeout:
			return out
		}
	}
}

// TestOwnership tries every route as its owner, as another user and with
// no token. Another user's attempt is refused exactly as for a missing
// object (same status, same body), nothing changes, no order leaves about
// the owner's objects, and no body shows them.
func TestOwnership(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	adm := e.user("admin", true)
	alice := e.user("alice", false)
	e.user("bob", false)
	smtp := e.respond(t, contract.SubjectOutboundSMTP, []byte(`{"error":false,"message":"sent"}`))
	armored, _ := armoredKey(t, "friend@example.org")
	keyBody, _ := json.Marshal(map[string]string{"key": armored})

	const (
		asUser  = false
		asAdmin = true
	)
	routes := []struct {
		method, path, body string
		admin              bool
		owner, other       int // statuses: the owner's, and another user's (404 for an object of the owner)
	}{
		{"GET", "/api/v2/me", "", asUser, 200, 200},
		{"DELETE", "/api/v2/authentications", "", asUser, 204, 204},
		{"GET", "/api/v2/identities/locals", "", asUser, 200, 200},
		{"POST", "/api/v2/identities/locals", `{"identifier":"{who}+new{n}"}`, asUser, 201, 201},
		{"GET", "/api/v2/identities/locals/{local}", "", asUser, 200, 404},
		{"PATCH", "/api/v2/identities/locals/{local}", `{"display_name":"x"}`, asUser, 200, 404},
		{"DELETE", "/api/v2/identities/locals/{local}", "", asUser, 204, 404},
		{"GET", "/api/v2/identities/remotes", "", asUser, 200, 200},
		{"POST", "/api/v2/identities/remotes", `{"protocol":"email","identifier":"{who}{n}@x.example"}`, asUser, 201, 201},
		{"GET", "/api/v2/identities/remotes/{remote}", "", asUser, 200, 404},
		{"PATCH", "/api/v2/identities/remotes/{remote}", `{"status":"inactive"}`, asUser, 200, 404},
		{"DELETE", "/api/v2/identities/remotes/{remote}", "", asUser, 204, 404},
		{"POST", "/api/v2/contacts", `{"title":"T"}`, asUser, 201, 201},
		{"GET", "/api/v2/contacts", "", asUser, 200, 200},
		{"GET", "/api/v2/contacts/{contact}", "", asUser, 200, 404},
		{"PATCH", "/api/v2/contacts/{contact}", `{"title":"x"}`, asUser, 200, 404},
		{"DELETE", "/api/v2/contacts/{contact}", "", asUser, 204, 404},
		{"POST", "/api/v2/contacts/{contact}/actions", `{"actions":["discover_key"]}`, asUser, 202, 404},
		{"GET", "/api/v2/contacts/{contact}/publickeys", "", asUser, 200, 404},
		{"POST", "/api/v2/contacts/{contact}/publickeys", string(keyBody), asUser, 201, 404},
		{"GET", "/api/v2/contacts/{contact}/publickeys/{key}", "", asUser, 200, 404},
		{"DELETE", "/api/v2/contacts/{contact}/publickeys/{key}", "", asUser, 204, 404},
		{"POST", "/api/v2/messages", `{"identity_id":"{local}","subject":"s"}`, asUser, 201, 422},
		{"GET", "/api/v2/messages", "", asUser, 200, 200},
		{"GET", "/api/v2/messages/{msg}", "", asUser, 200, 404},
		{"PATCH", "/api/v2/messages/{draft}", `{"subject":"x"}`, asUser, 200, 404},
		{"GET", "/api/v2/messages/{msg}/raw", "", asUser, 200, 404},
		{"POST", "/api/v2/messages/{draft}/actions", `{"actions":["send"]}`, asUser, 200, 404},
		{"GET", "/api/v2/notifications", "", asUser, 200, 200},
		{"POST", "/api/v2/admin/users", `{"name":"u-{who}{n}","password":"a-password"}`, asAdmin, 201, 403},
		{"POST", "/api/v2/admin/users/{alice}/mail", `{"subject":"s","body":"b"}`, asAdmin, 200, 403},
		{"POST", "/api/v2/admin/users/{alice}/identities", `{"identifier":"role-{who}{n}"}`, asAdmin, 201, 403},
	}
	for n, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			e := e.with(t)
			fx := e.fixtures(alice, n)
			path := fx.fill(rt.path)
			body := func(who string) any {
				if rt.body == "" {
					return nil
				}
				return strings.NewReplacer("{who}", who, "{n}", fmt.Sprint(n)).Replace(fx.fill(rt.body))
			}
			owner, ownerName, other, otherName := e.login("alice"), "alice", e.login("bob"), "bob"
			if rt.admin {
				owner, ownerName, other, otherName = e.login("admin"), "admin", e.login("alice"), "alice"
			}
			e.drainOrders()
			sent := len(smtp.requests())
			before := e.snapshot(alice, adm)

			e.do(rt.method, path, "", body("anon")).wantError(t, http.StatusUnauthorized, "unauthorized")
			if after := e.snapshot(alice, adm); after != before {
				t.Errorf("no token: the owner's objects changed")
			}
			if o := e.drainOrders(); len(o) != 0 {
				t.Errorf("no token: orders %v", o)
			}

			r := e.do(rt.method, path, other, body(otherName))
			if r.status != rt.other {
				t.Fatalf("other user: status %d, want %d; body %s", r.status, rt.other, r.body)
			}
			for ph, id := range fx.ids {
				if ph != "{alice}" && strings.Contains(string(r.body), id) {
					t.Errorf("other user: the answer shows the owner's %s", ph)
				}
			}
			if r.status == http.StatusNotFound {
				// Exactly the answer for an id that does not exist.
				missing := strings.NewReplacer(fx.ids["{local}"], uuid.NewString(), fx.ids["{remote}"], uuid.NewString(),
					fx.ids["{contact}"], uuid.NewString(), fx.ids["{draft}"], uuid.NewString(), fx.ids["{msg}"], uuid.NewString()).Replace(path)
				m := e.do(rt.method, missing, other, body(otherName))
				if m.status != r.status || string(m.body) != string(r.body) {
					t.Errorf("other user's object: %d %s; a missing one: %d %s", r.status, r.body, m.status, m.body)
				}
			}
			if after := e.snapshot(alice, adm); after != before {
				t.Errorf("other user: the owner's objects changed")
			}
			for _, o := range e.drainOrders() {
				if strings.Contains(o.data, alice.ID) || strings.Contains(o.data, adm.ID) {
					t.Errorf("other user: an order about the owner: %s %s", o.subject, o.data)
				}
			}
			if got := len(smtp.requests()); got != sent {
				t.Errorf("other user: %d deliver requests sent", got-sent)
			}

			r = e.do(rt.method, path, owner, body(ownerName))
			if r.status != rt.owner {
				t.Errorf("owner: status %d, want %d; body %s", r.status, rt.owner, r.body)
			}
			e.drainOrders()
		})
	}
}
