package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// draft creates a draft through the API and returns its id.
func (e *env) draft(tok, identityID string) string {
	e.t.Helper()
	body := map[string]any{"subject": "Hi", "body_plain": "Hello",
		"participants": []map[string]string{{"type": "To", "address": "dest@example.org"}}}
	if identityID != "" {
		body["identity_id"] = identityID
	}
	return e.do("POST", "/api/v2/messages", tok, body).want(e.t, http.StatusCreated).id(e.t, "message_id")
}

// remoteIdentity creates a remote identity through the API.
func (e *env) remoteIdentity(tok, protocol, identifier string) string {
	e.t.Helper()
	r := e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": protocol, "identifier": identifier})
	r.want(e.t, http.StatusCreated)
	e.nextOrder() // add_identity
	return r.id(e.t, "identity_id")
}

// TestSendDraft sends drafts from a local, a remote e-mail and a twitter
// identity: deliver goes as a request on the subject of the sender, with
// the seed's payload, and the reply comes back to the HTTP caller.
func TestSendDraft(t *testing.T) {
	e := setup(t, options{sendTimeout: 500 * time.Millisecond})
	u := e.user("alice", false)
	tok := e.login("alice")
	locals, err := e.st.ListIdentities(context.Background(), u.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil || len(locals) != 1 {
		t.Fatalf("local identities %v, %v", locals, err)
	}
	imapID := e.remoteIdentity(tok, "imap", "alice@remote.example")
	twitterID := e.remoteIdentity(tok, "twitter", "alice_tw")

	t.Run("local identity: outboundSMTP, success", func(t *testing.T) {
		e := e.with(t)
		smtp := e.respond(t, contract.SubjectOutboundSMTP, []byte(`{"error":false,"message":"sent"}`))
		id := e.draft(tok, "") // the first local identity by default
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.want(t, http.StatusOK)
		rep := r.json(t)["reply"].(map[string]any)
		if rep["error"] != false || rep["message"] != "sent" {
			t.Errorf("reply %v, want the responder's", rep)
		}
		smtp.wantLast(t, 1, "outboundSMTP.deliver.apiv2.REST.SendDraft.json",
			map[string]string{"message_id": id, "remote_id": locals[0].ID, "user_id": u.ID})
	})
	t.Run("remote imap identity: outboundIMAP, error reply", func(t *testing.T) {
		e := e.with(t)
		imap := e.respond(t, contract.SubjectOutboundIMAP, []byte(`{"error":true,"message":"relay refused"}`))
		id := e.draft(tok, imapID)
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.wantError(t, http.StatusBadGateway, "delivery_failed", "relay refused")
		if rep, _ := r.json(t)["reply"].(map[string]any); rep["error"] != true || rep["message"] != "relay refused" {
			t.Errorf("reply %v, want the responder's", rep)
		}
		imap.wantLast(t, 1, "outboundIMAP.deliver.apiv2.REST.SendDraft.json",
			map[string]string{"message_id": id, "remote_id": imapID, "user_id": u.ID})
	})
	t.Run("twitter identity: twitter_dm, no responder", func(t *testing.T) {
		e := e.with(t)
		id := e.draft(tok, twitterID)
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.wantError(t, http.StatusBadGateway, "no_responder", "twitter_dm")
		tw := e.respond(t, contract.SubjectTwitterDM, []byte(`{"error":false,"message":"dm sent"}`))
		e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}}).want(t, http.StatusOK)
		tw.wantLast(t, 1, "twitter_dm.deliver.apiv2.REST.SendDraft.json",
			map[string]string{"message_id": id, "remote_id": twitterID, "user_id": u.ID})
	})
	t.Run("mastodon identity: mastodon_dm", func(t *testing.T) {
		e := e.with(t)
		r := e.do("POST", "/api/v2/identities/remotes", tok, map[string]any{"protocol": "mastodon", "identifier": "@Alice@Social.Example",
			"infos": map[string]string{"url": "https://social.example/"}, "credentials": map[string]string{"oauth2accesstoken": "masto-tok-1"}})
		r.want(t, http.StatusCreated)
		e.nextOrder() // add_identity
		v := r.json(t)
		infos, _ := v["infos"].(map[string]any)
		if v["identifier"] != "alice@social.example" || v["poll_interval"] != 2.0 || infos["url"] != "https://social.example" ||
			infos["authtype"] != "oauth2" || v["has_credentials"] != true || strings.Contains(string(r.body), "masto-tok-1") {
			t.Errorf("mastodon identity %s", r.body)
		}
		mastoID := r.id(t, "identity_id")
		ma := e.respond(t, contract.SubjectMastodonDM, []byte(`{"error":false,"message":"status posted"}`))
		id := e.draft(tok, mastoID)
		e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}}).want(t, http.StatusOK)
		ma.wantLast(t, 1, "mastodon_dm.deliver.apiv2.REST.SendDraft.json",
			map[string]string{"message_id": id, "remote_id": mastoID, "user_id": u.ID})
		for _, bad := range []map[string]any{
			{"protocol": "mastodon", "identifier": "alice", "infos": map[string]string{"url": "https://social.example"},
				"credentials": map[string]string{"oauth2accesstoken": "t"}},
			{"protocol": "mastodon", "identifier": "bob@social.example", "infos": map[string]string{"url": "ftp://social.example"},
				"credentials": map[string]string{"oauth2accesstoken": "t"}},
			{"protocol": "mastodon", "identifier": "carol@social.example", "infos": map[string]string{"url": "https://social.example"}},
		} {
			e.do("POST", "/api/v2/identities/remotes", tok, bad).want(t, http.StatusBadRequest)
		}
	})
	t.Run("twitter identity: the function's code and class", func(t *testing.T) {
		e := e.with(t)
		for _, c := range []struct {
			code      string
			temporary bool
		}{{contract.CodeRecipientRefused, false}, {"x_unavailable", true}} {
			sub, err := e.nc.Subscribe(contract.SubjectTwitterDM, func(m *nats.Msg) {
				reply := nats.NewMsg(m.Reply)
				reply.Data = []byte(`{"error":true,"message":"said by twitter-dm"}`)
				reply.Header.Set(contract.HeaderServiceErrorCode, c.code)
				_ = m.RespondMsg(reply)
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = e.nc.Flush()
			id := e.draft(tok, twitterID)
			r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
			r.wantError(t, http.StatusBadGateway, "delivery_failed", "said by twitter-dm")
			if body := r.json(t); body["reason"] != c.code || body["temporary"] != c.temporary {
				t.Errorf("%s: reason %v temporary %v", c.code, body["reason"], body["temporary"])
			}
			_ = sub.Unsubscribe()
		}
	})
	t.Run("the connector's answer while no function serves the subject", func(t *testing.T) {
		e := e.with(t)
		e.respond(t, contract.SubjectOutboundIMAP, []byte(`{"error":true,"message":"no function serves outboundIMAP yet"}`))
		id := e.draft(tok, imapID)
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.wantError(t, http.StatusBadGateway, "delivery_failed", "no function serves outboundIMAP yet")
	})
	t.Run("no reply within the send timeout", func(t *testing.T) {
		e := e.with(t)
		e.respond(t, contract.SubjectOutboundSMTP, nil)
		id := e.draft(tok, locals[0].ID)
		start := time.Now()
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.wantError(t, http.StatusGatewayTimeout, "delivery_timeout", "outboundSMTP", "500ms")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("answered after %s, want about the send timeout", d)
		}
	})
	t.Run("a reply that is not a deliver reply", func(t *testing.T) {
		e := e.with(t)
		e.respond(t, contract.SubjectTwitterDM, []byte(`{"message":"no error key"}`))
		id := e.draft(tok, twitterID)
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send"}})
		r.wantError(t, http.StatusBadGateway, "bad_reply", "twitter_dm")
	})
}

// TestSendRules: a message that is not a draft, a draft without recipient,
// a draft whose identity was deleted, and an unknown action.
func TestSendRules(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	u := e.user("alice", false)
	tok := e.login("alice")
	ctx := context.Background()
	send := map[string]any{"actions": []string{"send"}}

	id := e.draft(tok, "")
	if _, err := e.st.BeginSend(ctx, u.ID, id, time.Minute, store.SendAttempt{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.MarkSent(ctx, u.ID, id, store.SentInfo{MessageID: "m1@example.test"}); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/v2/messages/"+id+"/actions", tok, send).wantError(t, http.StatusConflict, "not_a_draft")
	e.do("PATCH", "/api/v2/messages/"+id, tok, map[string]any{"subject": "x"}).wantError(t, http.StatusConflict, "not_a_draft")

	r := e.do("POST", "/api/v2/messages", tok, map[string]any{"subject": "no one"})
	r.want(t, http.StatusCreated)
	e.do("POST", "/api/v2/messages/"+r.id(t, "message_id")+"/actions", tok, send).
		wantError(t, http.StatusUnprocessableEntity, "no_recipient")

	tw := e.remoteIdentity(tok, "twitter", "alice_tw")
	id = e.draft(tok, tw)
	e.do("DELETE", "/api/v2/identities/remotes/"+tw, tok, nil).want(t, http.StatusNoContent)
	e.nextOrder()
	e.do("POST", "/api/v2/messages/"+id+"/actions", tok, send).
		wantError(t, http.StatusUnprocessableEntity, "unknown_identity", "no longer exists")

	e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"archive"}}).
		wantError(t, http.StatusBadRequest, "unknown_action", "send")
	e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{}}).
		wantError(t, http.StatusBadRequest, "missing_field", "actions")
	e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"send", "send"}}).
		wantError(t, http.StatusBadRequest, "invalid_field", "one action")
}

// TestAdminMail: creating an account mails the user from the admin's local
// identity (a draft owned by the admin, deliver on outboundSMTP with the
// seed's payload), and the admin can mail a user on request.
func TestAdminMail(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	adm := e.user("admin", true)
	tok := e.login("admin")
	ctx := context.Background()
	admLocal, err := e.st.ListIdentities(ctx, adm.ID, store.IdentityFilter{Type: store.LocalIdentity})
	if err != nil || len(admLocal) != 1 {
		t.Fatalf("admin identities %v, %v", admLocal, err)
	}
	smtp := e.respond(t, contract.SubjectOutboundSMTP, []byte(`{"error":false,"message":"queued"}`))

	r := e.do("POST", "/api/v2/admin/users", tok, map[string]any{"name": "Bob", "password": "bob-password",
		"recovery_email": "bob@recovery.example"})
	r.want(t, http.StatusCreated)
	body := r.json(t)
	bob := body["user"].(map[string]any)
	if bob["name"] != "bob" || body["identity"].(map[string]any)["identifier"] != "bob@example.test" {
		t.Errorf("created %s", r.body)
	}
	if wm := body["welcome_mail"].(map[string]any); wm["error"] != false || wm["message"] != "queued" {
		t.Errorf("welcome_mail %v, want the deliver reply", wm)
	}
	drafts, _, err := e.st.ListMessages(ctx, adm.ID, store.MessageFilter{}, store.Page{})
	if err != nil || len(drafts) != 1 {
		t.Fatalf("admin's messages %v, %v; want the welcome draft", drafts, err)
	}
	m := drafts[0]
	if len(m.Participants) != 2 || m.Participants[0].Address != "admin@example.test" ||
		m.Participants[1].Address != "bob@recovery.example" || m.IdentityIDs[0] != admLocal[0].ID {
		t.Errorf("welcome draft %+v, want admin@example.test → bob@recovery.example", m)
	}
	smtp.wantLast(t, 1, "outboundSMTP.deliver.apiv2.Notifications.SendEmailAdminToUser.json",
		map[string]string{"message_id": m.ID, "remote_id": admLocal[0].ID, "user_id": adm.ID})
	if _, err := e.st.GetMessage(ctx, bob["user_id"].(string), m.ID); err == nil {
		t.Error("the welcome draft belongs to bob, want the admin")
	}

	// On request, to a user without recovery address: the local address.
	carol, _, err := e.acc.CreateUser(ctx, accounts.NewUser{Name: "carol", Password: "carol-password"})
	if err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/api/v2/admin/users/"+carol.ID+"/mail", tok, map[string]any{"subject": "Maintenance", "body": "Tonight."})
	r.want(t, http.StatusOK)
	msg := r.json(t)["message"].(map[string]any)
	to := msg["participants"].([]any)[1].(map[string]any)
	if to["address"] != "carol@example.test" || msg["subject"] != "Maintenance" {
		t.Errorf("admin mail %s", r.body)
	}
	smtp.wantLast(t, 2, "outboundSMTP.deliver.apiv2.Notifications.SendEmailAdminToUser.json",
		map[string]string{"message_id": msg["message_id"].(string), "remote_id": admLocal[0].ID, "user_id": adm.ID})
	e.do("POST", "/api/v2/admin/users/"+carol.ID+"/mail", tok, map[string]any{"subject": "x"}).
		wantError(t, http.StatusBadRequest, "missing_field", `"body"`)
	e.do("POST", "/api/v2/admin/users/no-such-user/mail", tok, map[string]any{"subject": "x", "body": "y"}).
		wantError(t, http.StatusNotFound, "not_found", "user")
}

// TestAdminMailFailures: a failed welcome mail leaves the account created
// and says why; a failed mail on request answers like SendDraft.
func TestAdminMailFailures(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("root", true) // an admin, but not the configured admin user ("admin")
	tok := e.login("root")
	r := e.do("POST", "/api/v2/admin/users", tok, map[string]any{"name": "dave", "password": "dave-password"})
	r.want(t, http.StatusCreated)
	if wm := r.json(t)["welcome_mail"].(map[string]any); wm["error"] != true ||
		!strings.Contains(fmt.Sprint(wm["message"]), `admin user "admin"`) {
		t.Errorf("welcome_mail %v, want an error naming the missing admin user", wm)
	}
	dave := r.json(t)["user"].(map[string]any)["user_id"].(string)
	r = e.do("POST", "/api/v2/admin/users/"+dave+"/mail", tok, map[string]any{"subject": "s", "body": "b"})
	r.wantError(t, http.StatusServiceUnavailable, "no_admin_identity", `"admin"`)

	e.user("admin", true)
	r = e.do("POST", "/api/v2/admin/users/"+dave+"/mail", tok, map[string]any{"subject": "s", "body": "b"})
	r.wantError(t, http.StatusBadGateway, "no_responder", "outboundSMTP")
	e.respond(t, contract.SubjectOutboundSMTP, []byte(`{"error":true,"message":"no function serves outboundSMTP yet"}`))
	r = e.do("POST", "/api/v2/admin/users", tok, map[string]any{"name": "erin", "password": "erin-password"})
	r.want(t, http.StatusCreated)
	if wm := r.json(t)["welcome_mail"].(map[string]any); wm["error"] != true || wm["message"] != "no function serves outboundSMTP yet" {
		t.Errorf("welcome_mail %v, want the connector's error reply", wm)
	}
}

// TestReadFlag: set_read and set_unread change the message's unread flag,
// which the message and the unread filter then show.
func TestReadFlag(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	e.user("alice", false)
	tok := e.login("alice")
	id := e.draft(tok, "")
	for _, tc := range []struct {
		action string
		unread bool
	}{{"set_unread", true}, {"set_read", false}} {
		r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{tc.action}})
		r.want(t, http.StatusOK)
		if got := r.json(t)["message"].(map[string]any)["is_unread"]; got != tc.unread {
			t.Errorf("%s: answer's is_unread %v, want %v", tc.action, got, tc.unread)
		}
		list := e.do("GET", "/api/v2/messages?is_unread=true", tok, nil)
		list.want(t, http.StatusOK)
		if got := strings.Contains(string(list.body), id); got != tc.unread {
			t.Errorf("%s: in the unread list %v, want %v: %s", tc.action, got, tc.unread, list.body)
		}
	}
	r := e.do("POST", "/api/v2/messages/"+id+"/actions", tok, map[string]any{"actions": []string{"set_starred"}})
	r.wantError(t, http.StatusBadRequest, "unknown_action", "set_read")
}
