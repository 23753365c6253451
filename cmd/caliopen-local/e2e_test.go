package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/peertest"
)

// localSystem runs the whole system with an admin and returns its API base
// URL and a NATS connection to watch the orders with.
func localSystem(t *testing.T) (api string, nc *nats.Conn) {
	api, nc, _ = localSystemSMTP(t)
	return api, nc
}

// localSystemSMTP is localSystem that also returns the SMTP address.
func localSystemSMTP(t *testing.T) (api string, nc *nats.Conn, smtpAddr string) {
	return localSystemEnv(t, nil)
}

// localSystemEnv is localSystemSMTP with more environment variables.
func localSystemEnv(t *testing.T, extra map[string]string) (api string, nc *nats.Conn, smtpAddr string) {
	t.Helper()
	data := t.TempDir()
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Key discovery stays on this machine: Autocrypt headers only.
	env := map[string]string{"CALIOPEN_ADMIN_PASSWORD": "admin-password-1", "API_BCRYPT_COST": "4",
		"CALIOPEN_KEYS_SOURCES": "autocrypt",
		"CALIOPEN_EGRESS_ALLOW": "127.0.0.1"} // the tests' peers, allowed as an operator allows an address
	for k, v := range extra {
		env[k] = v
	}
	go func() {
		done <- run(ctx, []string{"-data", data, "-nats-port", "0", "-gateway-port", "0", "-admin-port", "0", "-smtp-port", "0"},
			func(k string) string { return env[k] }, &out, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	re := regexp.MustCompile(`REST API\s+(http://\S+)/\n`)
	natsRe := regexp.MustCompile(`NATS \(JetStream\)\s+(\S+)`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Ctrl-C") {
			api = m[1]
			n := operatorConn(t, natsRe.FindStringSubmatch(out.String())[1], data)
			return api, n, regexp.MustCompile(`SMTP\s+(\S+)`).FindStringSubmatch(out.String())[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("system did not start: %s %s", out.String(), logs.String())
		}
	}
}

// watcher collects what is published on a subject, requests included.
type watcher struct {
	t  *testing.T
	ch chan *nats.Msg
}

func watch(t *testing.T, nc *nats.Conn, subject string) *watcher {
	w := &watcher{t: t, ch: make(chan *nats.Msg, 16)}
	sub, err := nc.ChanSubscribe(subject, w.ch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	nc.Flush()
	return w
}

// want checks that the next order is exactly want, byte for byte.
func (w *watcher) want(what, want string) {
	w.t.Helper()
	select {
	case m := <-w.ch:
		if string(m.Data) != want {
			w.t.Errorf("%s: order %s\n want %s", what, m.Data, want)
		}
	case <-time.After(5 * time.Second):
		w.t.Errorf("%s: no order, want %s", what, want)
	}
}

func (w *watcher) none(what string) {
	w.t.Helper()
	select {
	case m := <-w.ch:
		w.t.Errorf("%s: unexpected order %s", what, m.Data)
	case <-time.After(200 * time.Millisecond):
	}
}

type client struct {
	t     *testing.T
	api   string
	token string
}

func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.api+path, r)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

func (c client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func login(t *testing.T, api, name, password string) client {
	t.Helper()
	out := client{t: t, api: api}.must(200, "POST", "/authentications", map[string]string{"username": name, "password": password})
	return client{t: t, api: api, token: out["access_token"].(string)}
}

func armoredKey(t *testing.T) string {
	t.Helper()
	e, err := openpgp.NewEntity("Carol", "", "carol@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	e.Serialize(w)
	w.Close()
	return buf.String()
}

// TestEndToEndEmitters drives the running local system over HTTP only and
// checks every apiv2 emitter's order on NATS, byte for byte in the seed's
// shape, and the deliver replies while no function serves outboundSMTP.
func TestEndToEndEmitters(t *testing.T) {
	api, nc := localSystem(t)
	smtp := watch(t, nc, "outboundSMTP")
	contacts := watch(t, nc, "contactAction")
	keys := watch(t, nc, "keyAction")
	ids := watch(t, nc, "identitiesWorker")

	admin := login(t, api, "admin", "admin-password-1")
	adminID := admin.must(200, "GET", "/me", nil)["user_id"].(string)
	adminIdentity := admin.must(200, "GET", "/identities/locals", nil)["identities"].([]any)[0].(map[string]any)["identity_id"].(string)

	// The admin creates alice: Notifications.SendEmailAdminToUser sends
	// deliver; smtp-deliver delivers the welcome mail to alice's hosted
	// address, into her mailbox.
	created := admin.must(201, "POST", "/admin/users", map[string]any{"name": "alice", "password": "alice-password-1"})
	aliceID := created["user"].(map[string]any)["user_id"].(string)
	if welcome := created["welcome_mail"].(map[string]any); welcome["error"] != false {
		t.Errorf("welcome mail reply %v, want delivered", welcome)
	}
	m := smtp.next("admin mail on account creation")
	var order map[string]string
	json.Unmarshal(m.Data, &order)
	smtp.wantBytes(t, "admin mail on account creation", m.Data,
		fmt.Sprintf(`{"message_id":"%s","order":"deliver","remote_id":"%s","user_id":"%s"}`, order["message_id"], adminIdentity, adminID))

	alice := login(t, api, "alice", "alice-password-1")
	aliceIdentity := alice.must(200, "GET", "/identities/locals", nil)["identities"].([]any)[0].(map[string]any)["identity_id"].(string)

	contact := alice.must(201, "POST", "/contacts", map[string]any{"title": "Carol",
		"emails": []map[string]any{{"address": "carol@example.org"}}})["contact_id"].(string)
	contactOrder := fmt.Sprintf(`{"order":"contact_update","contact_id":"%s","user_id":"%s"}`, contact, aliceID)
	discoverOrder := fmt.Sprintf(`{"order":"discover_key","contact_id":"%s","user_id":"%s"}`, contact, aliceID)
	contacts.want("REST.CreateContact", contactOrder)
	keys.want("REST.CreateContact", discoverOrder)
	// key-action runs that discovery, then asks for the contact's privacy
	// index again: the same contact_update.
	contacts.want("key-action after discovery", contactOrder)
	alice.must(200, "PATCH", "/contacts/"+contact, map[string]any{"family_name": "Jones"})
	contacts.want("REST.UpdateContact", contactOrder)
	alice.must(202, "POST", "/contacts/"+contact+"/actions", map[string]any{"actions": []string{"discover_key"}})
	keys.want("REST.launchKeyDiscovery", discoverOrder)
	contacts.want("key-action after discovery", contactOrder)
	key := alice.must(201, "POST", "/contacts/"+contact+"/publickeys", map[string]any{"key": armoredKey(t)})["key_id"].(string)
	keys.want("REST.CreatePGPPubKey", fmt.Sprintf(`{"key_id":"%s","order":"publish_key","resource_id":"%s","user_id":"%s"}`, key, contact, aliceID))
	alice.must(204, "DELETE", "/contacts/"+contact+"/publickeys/"+key, nil)
	keys.want("REST.DeletePubKey", fmt.Sprintf(`{"key_id":"%s","order":"delete_key","resource_id":"%s","user_id":"%s"}`, key, contact, aliceID))

	remote := alice.must(201, "POST", "/identities/remotes", map[string]any{"protocol": "email", "identifier": "alice@remote.example",
		"infos": map[string]string{"inserver": "imap.remote.example:993"}, "credentials": map[string]string{"inusername": "alice", "inpassword": "s3cret"}})["identity_id"].(string)
	ids.want("REST.CreateUserIdentity", fmt.Sprintf(`{"identity_id":"%s","order":"add_identity","user_id":"%s"}`, remote, aliceID))
	alice.must(200, "PATCH", "/identities/remotes/"+remote, map[string]any{"poll_interval": 30})
	ids.want("REST.PatchUserIdentity", fmt.Sprintf(`{"identity_id":"%s","order":"update_identity","user_id":"%s"}`, remote, aliceID))
	alice.must(204, "DELETE", "/identities/remotes/"+remote, nil)
	ids.want("REST.DeleteUserIdentity", fmt.Sprintf(`{"identity_id":"%s","order":"delete_identity","user_id":"%s"}`, remote, aliceID))

	// The welcome mail is in alice's mailbox.
	if inbox := alice.must(200, "GET", "/messages", nil); !strings.Contains(fmt.Sprint(inbox), "admin@caliopen.local") {
		t.Errorf("alice's messages %v, want the admin's welcome mail", inbox)
	}

	// REST.SendDraft from a local identity to an outside address: deliver
	// requested on outboundSMTP; no relay is configured on one machine, so
	// the reply is a clean permanent error.
	draft := alice.must(201, "POST", "/messages", map[string]any{"subject": "hi",
		"participants": []map[string]string{{"type": "To", "address": "carol@example.org"}}, "body_plain": "hello"})["message_id"].(string)
	code, sent := alice.do("POST", "/messages/"+draft+"/actions", map[string]any{"actions": []string{"send"}})
	if code != http.StatusBadGateway || !strings.Contains(fmt.Sprint(sent["message"]), "no relay is configured") {
		t.Errorf("send = %d %v, want 502 with smtp-deliver's no-relay reply", code, sent)
	}
	smtp.want("REST.SendDraft", fmt.Sprintf(`{"message_id":"%s","order":"deliver","remote_id":"%s","user_id":"%s"}`, draft, aliceIdentity, aliceID))

	// Between two local users the mail lands in the recipient's mailbox.
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "bob", "password": "bob-password-12"})
	smtp.next("bob's welcome mail")
	bob := login(t, api, "bob", "bob-password-12")
	toBob := alice.must(201, "POST", "/messages", map[string]any{"subject": "lunch?",
		"participants": []map[string]string{{"type": "To", "address": "bob@caliopen.local"}}, "body_plain": "at noon"})["message_id"].(string)
	alice.must(200, "POST", "/messages/"+toBob+"/actions", map[string]any{"actions": []string{"send"}})
	smtp.want("REST.SendDraft to bob", fmt.Sprintf(`{"message_id":"%s","order":"deliver","remote_id":"%s","user_id":"%s"}`, toBob, aliceIdentity, aliceID))
	if inbox := bob.must(200, "GET", "/messages", nil); !strings.Contains(fmt.Sprint(inbox), "lunch?") {
		t.Errorf("bob's messages %v, want alice's mail", inbox)
	}
	// A sent message is no longer a draft: sending it again is refused and
	// nothing is emitted or delivered twice.
	if code, _ = alice.do("POST", "/messages/"+toBob+"/actions", map[string]any{"actions": []string{"send"}}); code != http.StatusConflict {
		t.Errorf("second send = %d, want 409", code)
	}
	smtp.none("second send")
	if n := strings.Count(fmt.Sprint(bob.must(200, "GET", "/messages", nil)), "lunch?"); n != 1 {
		t.Errorf("bob has %d copies after a second send, want 1", n)
	}

	// The admin mails alice on request.
	admin.must(200, "POST", "/admin/users/"+aliceID+"/mail", map[string]any{"subject": "note", "body": "hello"})
	m = smtp.next("admin mail on request")
	json.Unmarshal(m.Data, &order)
	smtp.wantBytes(t, "admin mail on request", m.Data,
		fmt.Sprintf(`{"message_id":"%s","order":"deliver","remote_id":"%s","user_id":"%s"}`, order["message_id"], adminIdentity, adminID))

	// Another user's token, or none, changes nothing and emits nothing.
	for _, c := range []client{bob, {t: t, api: api}} {
		if code, _ := c.do("PATCH", "/contacts/"+contact, map[string]any{"title": "Mallory"}); code != 404 && code != 401 {
			t.Errorf("PATCH another user's contact = %d", code)
		}
		if code, _ := c.do("POST", "/messages/"+draft+"/actions", map[string]any{"actions": []string{"send"}}); code != 404 && code != 401 {
			t.Errorf("send another user's draft = %d", code)
		}
	}
	contacts.none("refused PATCH")
	smtp.none("refused send")
	if got := alice.must(200, "GET", "/contacts/"+contact, nil)["title"]; got != "Carol" {
		t.Errorf("alice's contact title = %v after refused changes", got)
	}
}

func (w *watcher) next(what string) *nats.Msg {
	w.t.Helper()
	select {
	case m := <-w.ch:
		return m
	case <-time.After(5 * time.Second):
		w.t.Fatalf("%s: no order", what)
		return nil
	}
}

func (w *watcher) wantBytes(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s: order %s\n want %s", what, got, want)
	}
}

// TestEndToEndInbound: a mail delivered by SMTP to the running local system
// appears through the API; a second copy is not stored twice; relaying is
// refused.
func TestEndToEndInbound(t *testing.T) {
	api, _, smtpAddr := localSystemSMTP(t)
	admin := login(t, api, "admin", "admin-password-1")
	admin.must(201, "POST", "/admin/users", map[string]any{"name": "dora", "password": "dora-password-1"})
	dora := login(t, api, "dora", "dora-password-1")

	mail := "From: Eve <eve@example.org>\r\nTo: dora@caliopen.local\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n" +
		"Message-ID: <e2e-1@example.org>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nHello Dora.\r\n"
	for i := 0; i < 2; i++ {
		if err := sendMail(smtpAddr, "dora@caliopen.local", mail); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	list := dora.must(200, "GET", "/messages", nil)
	if n := strings.Count(fmt.Sprint(list), "café"); n != 1 {
		t.Errorf("dora's messages hold %d copies of the mail, want 1: %v", n, list)
	}
	// A real client from outside the process: swaks (its subtest skips, or
	// fails under CI=true, without it).
	t.Run("swaks", func(t *testing.T) {
		swaks := peertest.Tool(t, "swaks", "scripts/test-peers/postfix-tools.sh installs it")
		host, port, _ := net.SplitHostPort(smtpAddr)
		out, err := exec.Command(swaks, "--server", host, "--port", port, "--from", "eve@example.org",
			"--to", "dora@caliopen.local", "--header", "Subject: sent with swaks", "--body", "Hello again.").CombinedOutput()
		if err != nil {
			t.Fatalf("swaks: %v\n%s", err, out)
		}
		dora := dora
		dora.t = t
		if list := dora.must(200, "GET", "/messages", nil); !strings.Contains(fmt.Sprint(list), "sent with swaks") {
			t.Errorf("dora's messages lack the swaks mail: %v", list)
		}
	})

	err := sendMail(smtpAddr, "someone@example.net", mail)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("relay attempt: %v, want 550", err)
	}
}

// sendMail delivers one mail over plain SMTP (the local listener offers no
// STARTTLS without a certificate).
func sendMail(addr, to, mail string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail("eve@example.org", []string{to}, strings.NewReader(mail)); err != nil {
		return err
	}
	return c.Quit()
}
