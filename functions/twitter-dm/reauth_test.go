package twitterdm

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xapitest"
)

// oauth2Identity adds identity tw2 of the fixture's user, an OAuth 2.0
// account whose access token is valid until expiry (as stored), with the
// X application "caliopen-app" (a confidential client) to renew it.
func (f *fixture) oauth2Identity(t *testing.T, access, refresh string, expiry time.Time) store.Identity {
	t.Helper()
	ctx := context.Background()
	f.x.AddOAuth2Client("caliopen-app", "app-secret", refresh, "100")
	id, err := f.st.CreateIdentity(ctx, store.Identity{ID: "tw2", UserID: f.user, Type: store.RemoteIdentity,
		Protocol: store.ProtocolTwitter, Identifier: "alice2", PollInterval: 2 * time.Minute,
		Infos: map[string]string{"authtype": "oauth2", "provider": "twitter"}})
	if err != nil {
		t.Fatal(err)
	}
	f.setCreds(t, id.ID, `{"oauth2accesstoken":"`+access+`","oauh2refreshtoken":"`+refresh+`","tokenexpiry":"`+
		expiry.UTC().Format(time.RFC3339)+`"}`)
	ring := f.b.deps.Keyring.(*secrets.Keyring)
	f.b.deps.Tokens = oauth2creds.New(oauth2creds.Config{Providers: map[string]oauth2creds.Provider{
		"twitter": {ClientID: "caliopen-app", ClientSecret: "app-secret", TokenURL: f.x.URL + "/2/oauth2/token",
			AuthStyle: oauth2creds.DefaultAuthStyle("twitter", "app-secret")}}}, ring, f.st, nil)
	return id
}

func (f *fixture) setCreds(t *testing.T, identityID, plain string) {
	t.Helper()
	ring := f.b.deps.Keyring.(*secrets.Keyring)
	sealed, err := ring.Seal([]byte(plain), []byte(identityID))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetCredentials(context.Background(), f.user, identityID, sealed); err != nil {
		t.Fatal(err)
	}
}

// reauthNotices lists the user's reauth_required notifications.
func (f *fixture) reauthNotices(t *testing.T) []store.Notification {
	t.Helper()
	all, _, err := f.st.ListNotifications(context.Background(), f.user, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Notification
	for _, n := range all {
		if n.Type == store.ReauthNotification {
			out = append(out, n)
		}
	}
	return out
}

func (f *fixture) syncOf(id string) string {
	f.t.Helper()
	code, errCode, body := f.order(contract.DeliverOrder{Order: "sync", RemoteID: id, UserID: f.user})
	if code != 200 {
		f.t.Fatalf("sync: %d %s %s", code, errCode, body)
	}
	return body
}

// TestRefreshOn401: an access token X revokes before its stated expiry
// is renewed once on the 401, the new pair stored, and the request sent
// again: the sync succeeds.
func TestRefreshOn401(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.x.AddBearer("revoked-early", "100", time.Now().Add(2*time.Hour))
	id := f.oauth2Identity(t, "revoked-early", "refresh-1", time.Now().Add(2*time.Hour))
	f.x.Revoke("revoked-early")
	f.x.Message("200", "100", "hello")
	if body := f.syncOf(id.ID); strings.Contains(body, "failure") {
		t.Fatalf("sync after a 401: %s", body)
	}
	if n := f.x.Requests()[xapitest.GroupToken]; n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	got, _ := f.st.GetIdentity(ctx, f.user, id.ID)
	plain, _ := f.b.deps.Keyring.(*secrets.Keyring).Open(got.Credentials, []byte(id.ID))
	if bytes.Contains(plain, []byte("revoked-early")) || bytes.Contains(plain, []byte("refresh-1")) {
		t.Error("the renewed pair was not stored")
	}
	if got.Status != store.Active || got.Sync.ErrorCount != 0 || len(f.messages()) != 1 {
		t.Errorf("after the sync: status %s sync %+v, %d messages", got.Status, got.Sync, len(f.messages()))
	}
}

// TestReauthRequired: an account whose refresh token X refuses (OAuth
// 2.0), or whose tokens X revoked (OAuth 1.0a), becomes reauth_required
// with one notification; it is not polled nor synced (no call to X) until
// new credentials come, and then resumes from its cursor.
func TestReauthRequired(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"oauth2", "oauth1"} {
		t.Run(kind, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			id := f.ident
			if kind == "oauth2" {
				f.x.AddBearer("access-1", "100", time.Now().Add(time.Hour))
				id = f.oauth2Identity(t, "access-1", "refresh-1", time.Now().Add(time.Hour))
			}
			f.x.Message("200", "100", "before")
			f.syncOf(id.ID)
			if err := f.st.SetNextRun(ctx, f.user, id.ID, f.now); err != nil {
				t.Fatal(err)
			}
			if kind == "oauth2" {
				f.x.Revoke("access-1")
				f.x.Revoke("refresh-1")
			} else {
				f.x.Revoke("100-tok")
			}
			f.x.Message("200", "100", "while refused")
			body := f.syncOf(id.ID)
			got, _ := f.st.GetIdentity(ctx, f.user, id.ID)
			if got.Status != store.ReauthRequired || got.Sync.LastError == "" || strings.Contains(got.Sync.LastError, "refresh-1") ||
				strings.Contains(got.Sync.LastError, "100-tok") {
				t.Fatalf("after the refusal (%s): status %s, last error %q", body, got.Status, got.Sync.LastError)
			}
			ns := f.reauthNotices(t)
			if len(ns) != 1 || ns[0].Reference != id.ID {
				t.Fatalf("notifications %+v, want one reauth_required", ns)
			}
			var notice store.ReauthNotice
			if err := json.Unmarshal([]byte(ns[0].Body), &notice); err != nil || notice.IdentityID != id.ID || notice.Reason == "" {
				t.Errorf("notification body %s: %v", ns[0].Body, err)
			}
			due, _ := f.st.DueSchedules(ctx, f.now.Add(time.Hour), 10)
			for _, d := range due {
				if d.IdentityID == id.ID {
					t.Error("the scheduler would still poll the identity")
				}
			}
			before := f.x.Requests()
			f.syncOf(id.ID) // a sync sent anyway calls nothing and notifies nothing more
			after := f.x.Requests()
			for g, n := range after {
				if before[g] != n {
					t.Errorf("a sync of an identity waiting for credentials called X (%s: %d → %d)", g, before[g], n)
				}
			}
			if ns := f.reauthNotices(t); len(ns) != 1 {
				t.Errorf("%d notifications after a second sync, want 1", len(ns))
			}
			// New credentials (as PATCH /identities/remotes/{id} gives them).
			if kind == "oauth2" {
				f.x.AddBearer("access-2", "100", time.Now().Add(time.Hour))
				f.x.AddOAuth2Client("caliopen-app", "app-secret", "refresh-2", "100")
				f.setCreds(t, id.ID, `{"oauth2accesstoken":"access-2","oauh2refreshtoken":"refresh-2","tokenexpiry":"`+
					time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`)
			} else {
				f.x.AddOAuth1("app", "appsecret", "100-tok2", "toksecret2", "100")
				f.setCreds(t, id.ID, `{"token":"100-tok2","secret":"toksecret2"}`)
			}
			got.Status = store.Active
			if _, err := f.st.UpdateIdentity(ctx, got); err != nil {
				t.Fatal(err)
			}
			pages := f.x.Requests()[xapitest.GroupDMLookup]
			f.syncOf(id.ID)
			texts := map[string]int{}
			for _, m := range f.messages() {
				texts[m.BodyPlain]++
			}
			if texts["before"] != 1 || texts["while refused"] != 1 || len(texts) != 2 ||
				f.x.Requests()[xapitest.GroupDMLookup] != pages+1 {
				t.Errorf("after new credentials: messages %v, %d pages read", texts, f.x.Requests()[xapitest.GroupDMLookup]-pages)
			}
		})
	}
}

// deliverBy posts deliver for draft id with a deadline d from now, and
// returns the status, code and reply.
func (f *fixture) deliverBy(id string, d time.Duration) (int, string, contract.DeliverReply) {
	f.t.Helper()
	body, _ := json.Marshal(contract.DeliverOrder{MessageID: id, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user})
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(fnhttp.HeaderSubject, contract.SubjectTwitterDM)
	r.Header.Set(fnhttp.HeaderDeadline, time.Now().Add(d).Format(time.RFC3339Nano))
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var rep contract.DeliverReply
	if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
		f.t.Fatalf("deliver reply %s: %v", w.Body.String(), err)
	}
	return w.Code, w.Header().Get("Nats-Service-Error-Code"), rep
}

func (f *fixture) draftTo(t *testing.T, to, text string) store.Message {
	t.Helper()
	m, err := f.st.CreateDraft(context.Background(), store.Message{UserID: f.user, IdentityIDs: []string{f.ident.ID},
		Protocol: "twitter", Participants: []store.Participant{{Type: "To", Address: to, Protocol: "twitter"}}, BodyPlain: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSendFailures: X's temporary failures are tried again inside the
// request's deadline, then reported as temporary with the draft left to
// send again; its refusals get their own codes and say what happened;
// a recipient known from synced messages is not looked up.
func TestSendFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.b.retryBase = 10 * time.Millisecond
	f.x.Message("200", "100", "hi from bob")
	f.x.Message("300", "100", "hi from carol")
	f.sync()
	users := f.x.Requests()[xapitest.GroupUsers]

	// Two 503s, then X takes it: sent once, in one deliver.
	f.x.Fail(xapitest.GroupDMSend, http.StatusServiceUnavailable, 2)
	m := f.draftTo(t, "bob", "through the storm")
	if code, errCode, rep := f.deliverBy(m.ID, 10*time.Second); code != 200 || rep.Error {
		t.Fatalf("deliver after two 503s: %d %s %+v", code, errCode, rep)
	}
	if sent := f.x.Sent(); len(sent) != 1 || sent[0].Conversation != "100-200" {
		t.Errorf("X got %+v", sent)
	}
	if n := f.x.Requests()[xapitest.GroupUsers]; n != users {
		t.Errorf("%d user lookups for a recipient known from synced messages", n-users)
	}

	// X keeps failing: temporary, the draft can be sent again.
	f.x.Fail(xapitest.GroupDMSend, http.StatusServiceUnavailable, 1000)
	m = f.draftTo(t, "carol", "still down")
	code, errCode, rep := f.deliverBy(m.ID, 4*time.Second)
	if code < 500 || errCode != "x_unavailable" || !rep.Error || !strings.Contains(rep.Message, "sent again") {
		t.Errorf("deliver while X fails: %d %s %+v, want a temporary x_unavailable", code, errCode, rep)
	}
	if contract.PermanentCode(errCode) {
		t.Errorf("%s is permanent", errCode)
	}
	if got, _ := f.st.GetMessage(ctx, f.user, m.ID); got.SendState != store.SendFailed {
		t.Errorf("draft after a temporary failure: %s", got.SendState)
	}
	f.x.Fail(xapitest.GroupDMSend, http.StatusServiceUnavailable, 0)
	if n := f.x.Requests()[xapitest.GroupDMSend]; n < 4 {
		t.Errorf("%d send requests, want the failures tried again", n)
	}
	resetFails(f.x)
	if code, errCode, rep := f.deliverBy(m.ID, 10*time.Second); code != 200 || rep.Error {
		t.Errorf("sending the draft again: %d %s %+v", code, errCode, rep)
	}

	// Refusals: permanent, with their own codes and words.
	f.x.AddUser("400", "dave", "Dave")
	f.x.RefuseDMs("400")
	for _, c := range []struct {
		to, code, words string
	}{
		{"dave", contract.CodeRecipientRefused, "does not accept direct messages"},
		{"nobody_here", contract.CodeUnknownRecipient, "no user @nobody_here"},
	} {
		m := f.draftTo(t, c.to, "hello "+c.to)
		code, errCode, rep := f.deliverBy(m.ID, 10*time.Second)
		if code != http.StatusUnprocessableEntity || errCode != c.code || !strings.Contains(rep.Message, c.words) ||
			!contract.PermanentCode(errCode) {
			t.Errorf("to %s: %d %s %+v, want 422 %s saying %q", c.to, code, errCode, rep, c.code, c.words)
		}
	}
	// dave's id was looked up once and is remembered.
	users = f.x.Requests()[xapitest.GroupUsers]
	m = f.draftTo(t, "dave", "again")
	f.deliverBy(m.ID, 10*time.Second)
	if n := f.x.Requests()[xapitest.GroupUsers]; n != users {
		t.Errorf("%d lookups of a recipient looked up before", n-users)
	}
}

// resetFails clears the server's pending injected failures.
func resetFails(x *xapitest.Server) { x.ClearFailures() }

// TestConversationOrder: DMs written one after the other, imported over
// several pages with many process_inbound requests at once, list in the
// order they were written.
func TestConversationOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	base := f.now
	for i := range 250 {
		f.now = base.Add(time.Duration(i) * time.Second)
		if i%2 == 0 {
			f.x.Message("200", "100", "bob "+strconv.Itoa(i))
		} else {
			f.x.Message("100", "200", "alice "+strconv.Itoa(i))
		}
	}
	f.now = base.Add(time.Hour)
	f.b.cfg.InFlight = 32
	f.sync()
	ms := f.messages()
	if len(ms) != 250 {
		t.Fatalf("%d messages, want 250", len(ms))
	}
	var conv []store.Message
	p := store.Page{Limit: 100}
	for {
		page, next, err := f.st.ListMessages(ctx, f.user, store.MessageFilter{DiscussionID: ms[0].DiscussionID}, p)
		if err != nil {
			t.Fatal(err)
		}
		conv = append(conv, page...)
		if next == "" {
			break
		}
		p.After = next
	}
	out := 0
	for i := 1; i < len(conv); i++ {
		if conv[i].Date.After(conv[i-1].Date) { // listed newest first
			out++
		}
	}
	if len(conv) != 250 || out != 0 {
		t.Errorf("%d messages in the conversation, %d neighbours out of date order", len(conv), out)
	}
}
