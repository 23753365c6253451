package api_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// TestIdempotencyKey: a creating POST repeated with its Idempotency-Key
// gets the first answer again and creates nothing more; the key with
// another request gets 422; keys are per user.
func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	ctx := context.Background()
	u := e.user("alice", false)
	tok := e.login("alice")
	key := []string{api.HeaderIdempotencyKey, `"a5b2c4d6-0001"`}
	carol := map[string]any{"title": "Carol"}

	first := e.do("POST", "/api/v2/contacts", tok, carol, key...).want(t, http.StatusCreated)
	e.nextOrder()
	again := e.do("POST", "/api/v2/contacts", tok, carol, key...).want(t, http.StatusCreated)
	if !bytes.Equal(again.body, first.body) || again.header.Get("Content-Type") != "application/json" {
		t.Errorf("repeat answered %s, want the first answer %s", again.body, first.body)
	}
	e.noOrder()
	list, _, err := e.st.ListContacts(ctx, u.ID, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	titled := 0
	for _, c := range list {
		if c.Title == "Carol" {
			titled++
		}
	}
	if titled != 1 {
		t.Errorf("%d contacts named Carol, want 1", titled)
	}
	if n, _ := e.st.PendingOrders(ctx); n != 0 {
		t.Errorf("%d orders pending, want none", n)
	}

	e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Dave"}, key...).
		wantError(t, http.StatusUnprocessableEntity, "idempotency_key_reused", "another request")
	e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "twitter", "identifier": "@carol"}, key...).
		wantError(t, http.StatusUnprocessableEntity, "idempotency_key_reused")

	// Keys are per user: bob's same key creates bob's contact.
	e.user("bob", false)
	bobs := e.do("POST", "/api/v2/contacts", e.login("bob"), carol, key...).want(t, http.StatusCreated)
	if bobs.id(t, "contact_id") == first.id(t, "contact_id") {
		t.Error("bob's request got alice's answer")
	}

	// An error answer is kept too: the same request gets it again.
	bad := []string{api.HeaderIdempotencyKey, "draft-1"}
	e.do("POST", "/api/v2/messages", tok, map[string]any{"identity_id": "nope"}, bad...).
		wantError(t, http.StatusUnprocessableEntity, "unknown_identity")
	e.do("POST", "/api/v2/messages", tok, map[string]any{"identity_id": "nope"}, bad...).
		wantError(t, http.StatusUnprocessableEntity, "unknown_identity")

	// Drafts: the repeat is the same draft.
	locals, err := e.st.ListIdentities(ctx, u.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil || len(locals) == 0 {
		t.Fatalf("local identities: %v, %v", locals, err)
	}
	draft := map[string]any{"identity_id": locals[0].ID, "subject": "hi", "body_plain": "hello",
		"participants": []map[string]any{{"type": "To", "address": "carol@example.org"}}}
	dk := []string{api.HeaderIdempotencyKey, `"draft-2"`}
	d1 := e.do("POST", "/api/v2/messages", tok, draft, dk...).want(t, http.StatusCreated)
	d2 := e.do("POST", "/api/v2/messages", tok, draft, dk...).want(t, http.StatusCreated)
	if d1.id(t, "message_id") != d2.id(t, "message_id") || !bytes.Equal(d1.body, d2.body) {
		t.Errorf("repeated draft %s, want %s", d2.body, d1.body)
	}

	for _, v := range []string{`""`, strings.Repeat("k", 256), "caf\u00e9", `"a\"b"`} {
		e.do("POST", "/api/v2/contacts", tok, carol, api.HeaderIdempotencyKey, v).
			wantError(t, http.StatusBadRequest, "invalid_idempotency_key")
	}
}

// TestIdempotencyKeyInProgress: a repeat while the first request still
// runs gets 409; once it has answered, the repeat gets its answer, and the
// mail went once.
func TestIdempotencyKeyInProgress(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("admin", true)
	tok := e.login("admin")
	carol := e.user("carol", false)
	release := make(chan struct{})
	var sent atomic.Int32
	sub, err := e.nc.Subscribe(contract.SubjectOutboundSMTP, func(m *nats.Msg) {
		sent.Add(1)
		<-release
		_ = m.Respond([]byte(`{"error":false,"message":"queued"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	key := []string{api.HeaderIdempotencyKey, `"mail-1"`}
	mail := map[string]any{"subject": "Maintenance", "body": "Tonight."}
	first := make(chan response, 1)
	go func() { first <- e.do("POST", "/api/v2/admin/users/"+carol.ID+"/mail", tok, mail, key...) }()
	waitUntil(t, func() bool { return sent.Load() == 1 })
	e.do("POST", "/api/v2/admin/users/"+carol.ID+"/mail", tok, mail, key...).
		wantError(t, http.StatusConflict, "request_in_progress")
	close(release)
	r := <-first
	r.want(t, http.StatusOK)
	again := e.do("POST", "/api/v2/admin/users/"+carol.ID+"/mail", tok, mail, key...).want(t, http.StatusOK)
	if !bytes.Equal(again.body, r.body) || sent.Load() != 1 {
		t.Errorf("repeat answered %s after %d deliver requests; want the first answer %s and one request", again.body, sent.Load(), r.body)
	}
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
