package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
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
	if got := o.header.Get(emit.HeaderCorrelationID); got != "corr-42" {
		t.Errorf("order's %s = %q, want corr-42", emit.HeaderCorrelationID, got)
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
	r = e.do("POST", "/api/v2/identities/locals", tok, map[string]any{"identifier": "alias"})
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

// TestPublishNotAcknowledged: without a stream no publish is acknowledged;
// the change is kept and the answer is 503 saying so.
func TestPublishNotAcknowledged(t *testing.T) {
	e := setup(t, options{noStream: true})
	u := e.user("alice", false)
	tok := e.login("alice")
	r := e.do("POST", "/api/v2/contacts", tok, map[string]any{"title": "Carol"})
	r.wantError(t, http.StatusServiceUnavailable, "order_not_queued", "the change was saved", "contact_update", "contactAction")
	id := r.id(t, "id")
	if _, err := e.st.GetContact(context.Background(), u.ID, id); err != nil {
		t.Errorf("the contact was not kept: %v", err)
	}
	r = e.do("POST", "/api/v2/contacts/"+id+"/actions", tok, map[string]any{"actions": []string{"discover_key"}})
	r.wantError(t, http.StatusServiceUnavailable, "order_not_queued", "nothing was changed", "discover_key")
	r = e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "twitter", "identifier": "@alice"})
	r.wantError(t, http.StatusServiceUnavailable, "order_not_queued", "add_identity", "identitiesWorker")
	ids, err := e.st.ListIdentities(context.Background(), u.ID, store.IdentityFilter{Type: store.RemoteIdentity})
	if err != nil || len(ids) != 1 || ids[0].Identifier != "alice" || ids[0].PollInterval.Minutes() != 2 {
		t.Errorf("remote identities = %+v, %v; want the twitter one, polled every 2 min", ids, err)
	}
}
