package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/store"
)

// armoredKey returns a fresh armored OpenPGP public key for email, and its
// fingerprint.
func armoredKey(t *testing.T, email string) (string, string) {
	t.Helper()
	e, err := openpgp.NewEntity("Test", "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
}

// TestPubSubEmitters drives every publish/subscribe emitter over HTTP and
// checks each order on NATS byte for byte against the seed's payload.
func TestPubSubEmitters(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	u := e.user("alice", false)
	tok := e.login("alice")

	// REST.CreateContact → contactAction contact_update; the correlation id travels.
	r := e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Carol",
		"emails": []map[string]any{{"address": "carol@example.org", "is_primary": true}}}, "X-Correlation-Id", "corr-42")
	r.want(t, http.StatusCreated)
	if got := r.header.Get("X-Correlation-Id"); got != "corr-42" {
		t.Errorf("X-Correlation-Id answered %q, want corr-42", got)
	}
	contactID := r.id(t, "contact_id")
	o := e.wantOrder(contract.SubjectContactAction, "contactAction.contact_update.apiv2.REST.CreateContact.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})
	if got := o.header.Get(contract.HeaderCorrelationID); got != "corr-42" {
		t.Errorf("order's %s = %q, want corr-42", contract.HeaderCorrelationID, got)
	}
	// A new contact with addresses starts a key discovery (the same payload
	// as launchKeyDiscovery's).
	e.wantOrder(contract.SubjectKeyAction, "keyAction.discover_key.apiv2.REST.launchKeyDiscovery.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})

	// REST.UpdateContact → contactAction contact_update; no discovery when
	// the addresses and identities stay.
	e.do("PATCH", "/api/v2/contacts/"+contactID, tok, map[string]any{"family_name": "Jones"}).want(t, http.StatusOK)
	e.wantOrder(contract.SubjectContactAction, "contactAction.contact_update.apiv2.REST.UpdateContact.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})
	e.do("PATCH", "/api/v2/contacts/"+contactID, tok, map[string]any{"emails": []map[string]any{
		{"address": "carol@example.org", "is_primary": true}}}).want(t, http.StatusOK)
	e.wantOrder(contract.SubjectContactAction, "contactAction.contact_update.apiv2.REST.UpdateContact.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})

	// A PATCH that changes the addresses or identities starts one.
	e.do("PATCH", "/api/v2/contacts/"+contactID, tok, map[string]any{"identities": []map[string]any{
		{"type": "twitter", "name": "carol"}}}).want(t, http.StatusOK)
	e.wantOrder(contract.SubjectContactAction, "contactAction.contact_update.apiv2.REST.UpdateContact.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})
	e.wantOrder(contract.SubjectKeyAction, "keyAction.discover_key.apiv2.REST.launchKeyDiscovery.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})

	// REST.launchKeyDiscovery → keyAction discover_key.
	r = e.do("POST", "/api/v2/contacts/"+contactID+"/actions", tok, map[string]any{"actions": []string{"discover_key"}})
	r.want(t, http.StatusAccepted)
	e.wantOrder(contract.SubjectKeyAction, "keyAction.discover_key.apiv2.REST.launchKeyDiscovery.json",
		map[string]string{"contact_id": contactID, "user_id": u.ID})

	// REST.CreatePGPPubKey → keyAction publish_key.
	armored, fpr := armoredKey(t, "carol@example.org")
	r = e.do("POST", "/api/v2/contacts/"+contactID+"/publickeys", tok, map[string]any{"key": armored, "label": "main"})
	r.want(t, http.StatusCreated)
	keyID := r.id(t, "key_id")
	if got := r.json(t); got["fingerprint"] != fpr || got["algorithm"] != "eddsa" ||
		!strings.Contains(string(r.body), "carol@example.org") {
		t.Errorf("key answer %s, want fingerprint %s, eddsa, carol@example.org", r.body, fpr)
	}
	e.wantOrder(contract.SubjectKeyAction, "keyAction.publish_key.apiv2.REST.CreatePGPPubKey.json",
		map[string]string{"key_id": keyID, "resource_id": contactID, "user_id": u.ID})

	// REST.DeletePubKey → keyAction delete_key.
	e.do("DELETE", "/api/v2/contacts/"+contactID+"/publickeys/"+keyID, tok, nil).want(t, http.StatusNoContent)
	e.wantOrder(contract.SubjectKeyAction, "keyAction.delete_key.apiv2.REST.DeletePubKey.json",
		map[string]string{"key_id": keyID, "resource_id": contactID, "user_id": u.ID})

	// REST.CreateUserIdentity → identitiesWorker add_identity.
	r = e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "email",
		"identifier": "alice@remote.example", "infos": map[string]string{"inserver": "imap.remote.example:993"},
		"credentials": map[string]string{"inusername": "alice", "inpassword": "imap-secret-7"}})
	r.want(t, http.StatusCreated)
	idID := r.id(t, "identity_id")
	e.wantOrder(contract.SubjectIdentitiesWorker, "identitiesWorker.add_identity.apiv2.REST.CreateUserIdentity.json",
		map[string]string{"identity_id": idID, "user_id": u.ID})

	// REST.PatchUserIdentity → identitiesWorker update_identity.
	e.do("PATCH", "/api/v2/identities/remotes/"+idID, tok, map[string]any{"poll_interval": 30}).want(t, http.StatusOK)
	e.wantOrder(contract.SubjectIdentitiesWorker, "identitiesWorker.update_identity.apiv2.REST.PatchUserIdentity.json",
		map[string]string{"identity_id": idID, "user_id": u.ID})

	// REST.DeleteUserIdentity → identitiesWorker delete_identity.
	e.do("DELETE", "/api/v2/identities/remotes/"+idID, tok, nil).want(t, http.StatusNoContent)
	e.wantOrder(contract.SubjectIdentitiesWorker, "identitiesWorker.delete_identity.apiv2.REST.DeleteUserIdentity.json",
		map[string]string{"identity_id": idID, "user_id": u.ID})

	// Local identities and contact deletion emit nothing.
	r = e.do("POST", "/api/v2/identities/locals", tok, map[string]any{"identifier": "alice+alias"})
	r.want(t, http.StatusCreated)
	e.do("DELETE", "/api/v2/identities/locals/"+r.id(t, "identity_id"), tok, nil).want(t, http.StatusNoContent)
	e.do("DELETE", "/api/v2/contacts/"+contactID, tok, nil).want(t, http.StatusNoContent)
	e.noOrder()

	// Every order reached the stream, as the connector's consumers would read it.
	st, err := e.js.Stream(context.Background(), "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 12 {
		t.Errorf("stream holds %d orders, want 12", info.State.Msgs)
	}
}

// TestOrdersLeftToTheRelay: without a stream no publish is acknowledged;
// the change is accepted with its order in the outbox, and a relay
// publishes the orders once the stream is there, each once, even when
// published again.
func TestOrdersLeftToTheRelay(t *testing.T) {
	e := setup(t, options{noStream: true})
	ctx := context.Background()
	u := e.user("alice", false)
	tok := e.login("alice")
	r := e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Carol"})
	r.want(t, http.StatusCreated)
	id := r.id(t, "contact_id")
	e.do("POST", "/api/v2/contacts/"+id+"/actions", tok, map[string]any{"actions": []string{"discover_key"}}).
		want(t, http.StatusAccepted)
	e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "twitter", "identifier": "@alice"}).
		want(t, http.StatusCreated)
	ids, err := e.st.ListIdentities(ctx, u.ID, store.IdentityFilter{Type: store.RemoteIdentity})
	if err != nil || len(ids) != 1 || ids[0].Identifier != "alice" || ids[0].PollInterval.Minutes() != 2 {
		t.Errorf("remote identities = %+v, %v; want the twitter one, polled every 2 min", ids, err)
	}
	if n, err := e.st.PendingOrders(ctx); err != nil || n != 3 {
		t.Fatalf("outbox holds %d orders (%v), want 3", n, err)
	}
	if logs := e.logs(); strings.Count(logs, `"order_pending"`) != 3 {
		t.Errorf("the log does not say 3 times that an order was left to the relay:\n%s", logs)
	}

	if _, err := e.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: pubSubSubjects}); err != nil {
		t.Fatal(err)
	}
	em, err := emit.New(e.nc)
	if err != nil {
		t.Fatal(err)
	}
	relay := outbox.New(outbox.Config{Grace: -1}, e.st, em, slog.New(slog.DiscardHandler))
	claimed, err := e.st.ClaimOrders(ctx, time.Now(), time.Millisecond, 10)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d orders (%v), want 3", len(claimed), err)
	}
	// A relay that published the first order and died before removing it.
	if err := em.PublishOrder(ctx, claimed[0]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // the dead relay's lease ends
	if n, err := relay.Flush(ctx); err != nil || n != 3 {
		t.Fatalf("relay sent %d orders (%v), want 3", n, err)
	}
	if n, err := relay.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("relay sent %d orders again (%v), want 0", n, err)
	}
	st, err := e.js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 {
		t.Errorf("stream holds %d orders, want 3 (each once)", info.State.Msgs)
	}
	want := []struct{ subject, file string }{
		{contract.SubjectContactAction, "contactAction.contact_update.apiv2.REST.CreateContact.json"},
		{contract.SubjectKeyAction, "keyAction.discover_key.apiv2.REST.launchKeyDiscovery.json"},
		{contract.SubjectIdentitiesWorker, "identitiesWorker.add_identity.apiv2.REST.CreateUserIdentity.json"},
	}
	for i, w := range want {
		m, err := st.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		golden := golden(t, w.file, map[string]string{"contact_id": id, "identity_id": ids[0].ID, "user_id": u.ID})
		if m.Subject != w.subject || string(m.Data) != golden || m.Header.Get(nats.MsgIdHdr) != claimed[i].ID ||
			m.Header.Get(contract.HeaderCorrelationID) == "" {
			t.Errorf("stream message %d: %s %s %v\nwant on %s: %s with Nats-Msg-Id %s", i+1, m.Subject, m.Data,
				m.Header, w.subject, golden, claimed[i].ID)
		}
	}
	if n, err := e.st.PendingOrders(ctx); err != nil || n != 0 {
		t.Errorf("outbox holds %d orders (%v), want none", n, err)
	}
}
