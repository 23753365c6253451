package twitterdm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapitest"
	"github.com/caliopen/functions/internal/xinbound"
)

// emitter answers process_inbound with the real inbound-twitter core (through
// the shared adapter) and records what is published; fail makes the
// process_inbound of a text fail once.
type emitter struct {
	t         *testing.T
	inbound   http.Handler
	mu        sync.Mutex
	published []contract.IdentityOrder
	followups []string // sync orders published on twitter_dm
	requests  []contract.DeliverOrder
	failText  map[string]bool
	st        *store.SQL
	blobs     *dirblob.Store
}

func (e *emitter) Request(ctx context.Context, subject string, payload any) ([]byte, error) {
	body, _ := json.Marshal(payload)
	if subject == contract.SubjectTwitterDM { // a follow-up sync, accepted as the connector does
		e.mu.Lock()
		e.followups = append(e.followups, string(body))
		e.mu.Unlock()
		return []byte(`{"error":false,"message":"accepted"}`), nil
	}
	if subject != contract.SubjectInboundTwitter {
		e.t.Errorf("request on %s", subject)
	}
	var o contract.DeliverOrder
	_ = json.Unmarshal(body, &o)
	if string(body) != `{"message_id":"`+o.MessageID+`","order":"process_inbound","remote_id":"`+o.RemoteID+`","user_id":"`+o.UserID+`"}` {
		e.t.Errorf("process_inbound payload %s is not the seed's", body)
	}
	e.mu.Lock()
	e.requests = append(e.requests, o)
	e.mu.Unlock()
	e.mu.Lock()
	failing := len(e.failText) > 0
	e.mu.Unlock()
	if failing {
		rc, err := e.blobs.Get(ctx, store.RawKey(o.MessageID))
		if err == nil {
			var d struct {
				Data struct{ Text string } `json:"data"`
			}
			_ = json.NewDecoder(rc).Decode(&d)
			rc.Close()
			e.mu.Lock()
			fail := e.failText[d.Data.Text]
			delete(e.failText, d.Data.Text)
			e.mu.Unlock()
			if fail {
				return nil, errors.New("inbound-twitter unavailable")
			}
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(fnhttp.HeaderSubject, subject)
	w := httptest.NewRecorder()
	e.inbound.ServeHTTP(w, r)
	return w.Body.Bytes(), nil
}

func (e *emitter) Publish(_ context.Context, subject string, payload any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch subject {
	case contract.SubjectIdentitiesWorker:
		e.published = append(e.published, payload.(contract.IdentityOrder))
	default:
		e.t.Errorf("publish on %s", subject)
	}
	return nil
}

type fixture struct {
	t     *testing.T
	x     *xapitest.Server
	st    *store.SQL
	em    *emitter
	b     *bridge
	h     http.Handler
	now   time.Time
	user  string
	ident store.Identity
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := dirblob.New(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	ring, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: k})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, now: time.Now().Truncate(time.Second)}
	f.x = xapitest.New()
	t.Cleanup(f.x.Close)
	f.x.SetNow(func() time.Time { return f.now })
	f.x.AddUser("100", "alice", "Alice")
	f.x.AddUser("200", "bob", "Bob")
	f.x.AddUser("300", "carol", "Carol")
	f.x.AddOAuth1("app", "appsecret", "100-tok", "toksecret", "100")
	u, err := st.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	f.user = u.ID
	id, err := st.CreateIdentity(ctx, store.Identity{ID: "tw1", UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolTwitter,
		Identifier: "alice", PollInterval: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := ring.Seal([]byte(`{"token":"100-tok","secret":"toksecret"}`), []byte(id.ID))
	if err := st.SetCredentials(ctx, u.ID, id.ID, creds); err != nil {
		t.Fatal(err)
	}
	f.ident = id
	log := slog.New(slog.DiscardHandler)
	in, err := xinbound.New(xinbound.Config{}, xinbound.Deps{Store: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	f.em = &emitter{t: t, inbound: fnhttp.New(fnhttp.Config{Function: "inbound-twitter"}, contract.Caliopen(), in, log),
		st: st, blobs: blobs, failText: map[string]bool{}}
	cfg := DefaultConfig()
	cfg.X = xaccount.Config{BaseURL: f.x.URL, AppKey: "app", AppSecret: "appsecret", Timeout: 5 * time.Second}
	f.b, err = newBridge(cfg, Deps{Store: st, Blobs: blobs, Keyring: ring, Emitter: f.em, Logger: log,
		Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.h = fnhttp.New(fnhttp.Config{Function: "twitter-dm"}, contract.Caliopen(), f.b.core, log)
	return f
}

// order posts an order on twitter_dm and returns the status, code and body.
func (f *fixture) order(o contract.DeliverOrder) (int, string, string) {
	f.t.Helper()
	body, _ := json.Marshal(o)
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(fnhttp.HeaderSubject, contract.SubjectTwitterDM)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w.Code, w.Header().Get("Nats-Service-Error-Code"), w.Body.String()
}

func (f *fixture) sync() string {
	f.t.Helper()
	code, errCode, body := f.order(contract.DeliverOrder{Order: "sync", RemoteID: f.ident.ID, UserID: f.user})
	if code != 200 {
		f.t.Fatalf("sync: %d %s %s", code, errCode, body)
	}
	return body
}

func (f *fixture) messages() []store.Message {
	f.t.Helper()
	var all []store.Message
	p := store.Page{Limit: 100}
	for {
		ms, next, err := f.st.ListMessages(context.Background(), f.user, store.MessageFilter{}, p)
		if err != nil {
			f.t.Fatal(err)
		}
		all = append(all, ms...)
		if next == "" {
			return all
		}
		p.After = next
	}
}

func TestSyncImportsAllOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := f.x.Group("300", "100", "200")
	for i := range 150 {
		f.x.Message("200", "100", "dm "+strconv.Itoa(i))
		if i%3 == 0 {
			f.x.GroupMessage(g, "300", "group "+strconv.Itoa(i))
		}
	}
	var (
		pagingMu sync.Mutex
		paging   []string // the texts of the DMs that arrived while paging, each its own
	)
	f.x.OnRequest(func(r *http.Request) {
		if r.URL.Query().Get("pagination_token") != "" {
			pagingMu.Lock()
			defer pagingMu.Unlock()
			text := "arrived while paging " + strconv.Itoa(len(paging))
			paging = append(paging, text)
			f.x.Message("300", "100", text) // newer than the walk's first page
		}
	})
	f.em.failText["dm 70"] = true // fails once: imported by a later sync
	f.sync()
	// The first sync stops at the failed DM's gap: what it stored is the
	// run of handled events from the oldest, plus those after the gap.
	if ms := f.messages(); len(ms) != 200-1 {
		t.Errorf("after the first sync: %d messages, want the 199 but the failed one", len(ms))
	}
	id, _ := f.st.GetIdentity(context.Background(), f.user, f.ident.ID)
	if id.Sync.ErrorCount != 1 || id.Infos["twitterid"] != "100" || id.Infos["screen_name"] != "alice" {
		t.Errorf("after a failed event: sync %+v infos %v", id.Sync, id.Infos)
	}
	f.x.OnRequest(nil)
	f.sync()
	f.sync()
	ms := f.messages()
	// 150 one-to-one, 50 group, and each DM that arrived while paging:
	// every one stored exactly once.
	texts := map[string]int{}
	discs := map[string]bool{}
	for _, m := range ms {
		texts[m.BodyPlain]++
		discs[m.DiscussionID] = true
	}
	if len(paging) == 0 {
		t.Fatal("no DM arrived while paging: the test proves nothing")
	}
	want := 150 + 50 + len(paging)
	if len(ms) != want || len(texts) != want {
		t.Errorf("%d messages, %d distinct texts, want %d of each (%d arrived while paging)", len(ms), len(texts), want, len(paging))
	}
	for _, txt := range append([]string{"dm 0", "dm 70", "dm 149", "group 0", "group 147"}, paging...) {
		if texts[txt] != 1 {
			t.Errorf("%q stored %d times, want once", txt, texts[txt])
		}
	}
	for txt, n := range texts {
		if n != 1 {
			t.Errorf("%q stored %d times", txt, n)
		}
	}
	if len(discs) != 3 { // alice-bob, the group, alice-carol
		t.Errorf("%d discussions, want 3", len(discs))
	}
	id, _ = f.st.GetIdentity(context.Background(), f.user, f.ident.ID)
	if id.Sync.ErrorCount != 0 || id.Sync.Cursor == "" {
		t.Errorf("after recovery: %+v", id.Sync)
	}
	// A sync with nothing new asks one page and sends nothing.
	before, n := f.x.Requests()[xapitest.GroupDMLookup], len(f.em.requests)
	f.sync()
	if f.x.Requests()[xapitest.GroupDMLookup] != before+1 || len(f.em.requests) != n {
		t.Errorf("an idle sync made %d requests and %d process_inbound", f.x.Requests()[xapitest.GroupDMLookup]-before,
			len(f.em.requests)-n)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 250 {
		f.x.Message("200", "100", "dm "+strconv.Itoa(i))
	}
	f.x.SetLimit(xapitest.GroupDMLookup, 2)
	body := f.sync() // two pages, then the window is spent
	if len(f.em.published) != 1 {
		t.Fatalf("published %+v (%s)", f.em.published, body)
	}
	o := f.em.published[0]
	if o.Order != "update_interval" || o.Protocol != "twitter" || o.IdentityID != f.ident.ID || o.UserID != f.user ||
		int(o.PollIntervall) < 15 {
		t.Errorf("update_interval %+v", o)
	}
	b, _ := json.Marshal(o)
	if _, err := contract.Caliopen().Decode(contract.SubjectIdentitiesWorker, b); err != nil {
		t.Errorf("update_interval %s: %v", b, err)
	}
	id, _ := f.st.GetIdentity(context.Background(), f.user, f.ident.ID)
	if !id.Sync.ThrottledUntil.Equal(f.now.Add(xapitest.Window)) || !strings.HasPrefix(id.Sync.Cursor, "0 ") {
		t.Errorf("throttle %v cursor %q", id.Sync.ThrottledUntil, id.Sync.Cursor)
	}
	// Before the reset: no call to X.
	n := f.x.Requests()[xapitest.GroupDMLookup]
	f.now = f.now.Add(5 * time.Minute)
	f.sync()
	if f.x.Requests()[xapitest.GroupDMLookup] != n {
		t.Error("a sync called X before the reset")
	}
	f.now = f.now.Add(xapitest.Window)
	f.x.SetLimit(xapitest.GroupDMLookup, 300)
	f.sync()
	if len(f.em.published) != 2 || f.em.published[1].PollIntervall != 2 {
		t.Errorf("interval not restored: %+v", f.em.published)
	}
	if ms := f.messages(); len(ms) != 250 {
		t.Errorf("%d messages, want 250", len(ms))
	}
}

func TestDeliverOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.x.Message("200", "100", "hello")
	f.sync()
	ms := f.messages()
	reply, err := f.st.CreateDraft(ctx, store.Message{UserID: f.user, IdentityIDs: []string{f.ident.ID}, Protocol: "twitter",
		DiscussionID: ms[0].DiscussionID, BodyPlain: "hi bob"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		code, errCode, body := f.order(contract.DeliverOrder{MessageID: reply.ID, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user})
		if code != 200 || body != `{"error":false,"message":"message `+reply.ID+` has been sent."}` {
			t.Errorf("deliver: %d %s %s", code, errCode, body)
		}
	}
	if sent := f.x.Sent(); len(sent) != 1 || sent[0].Conversation != "100-200" || sent[0].Text != "hi bob" {
		t.Errorf("X got %+v", sent)
	}
	m, _ := f.st.GetMessage(ctx, f.user, reply.ID)
	if m.SendState != store.SendSent || m.External.MessageID != f.x.Sent()[0].ID || m.DiscussionID != ms[0].DiscussionID {
		t.Errorf("sent message %+v", m)
	}
	// A new message to carol by username; a crash after the hand-off is
	// finished by the next deliver without posting again.
	fresh, _ := f.st.CreateDraft(ctx, store.Message{UserID: f.user, IdentityIDs: []string{f.ident.ID}, Protocol: "twitter",
		Participants: []store.Participant{{Type: "To", Address: "carol", Protocol: "twitter"}}, BodyPlain: "hi carol"})
	f.b.cfg.SendLease = 200 * time.Millisecond
	f.b.afterHandoff = func() error { return errors.New("crash") }
	if code, _, _ := f.order(contract.DeliverOrder{MessageID: fresh.ID, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user}); code == 200 {
		t.Error("the crashed attempt succeeded")
	}
	f.b.afterHandoff = nil
	time.Sleep(f.b.cfg.SendLease) // the lease runs out
	if code, errCode, body := f.order(contract.DeliverOrder{MessageID: fresh.ID, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user}); code != 200 {
		t.Errorf("recovery: %d %s %s", code, errCode, body)
	}
	if sent := f.x.Sent(); len(sent) != 2 || sent[1].Conversation != "100-300" {
		t.Errorf("X got %+v", sent)
	}
	m, _ = f.st.GetMessage(ctx, f.user, fresh.ID)
	if m.SendState != store.SendSent || m.DiscussionID == "" {
		t.Errorf("recovered message %+v", m)
	}
}

func TestBadOrders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	mail, _ := f.st.CreateIdentity(ctx, store.Identity{UserID: f.user, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "a@example.test"})
	empty, _ := f.st.CreateDraft(ctx, store.Message{UserID: f.user, IdentityIDs: []string{f.ident.ID}, Protocol: "twitter",
		Participants: []store.Participant{{Type: "To", Address: "bob"}}})
	nobody, _ := f.st.CreateDraft(ctx, store.Message{UserID: f.user, IdentityIDs: []string{f.ident.ID}, Protocol: "twitter",
		Participants: []store.Participant{{Type: "To", Address: "nobody_here"}}, BodyPlain: "x"})
	for _, tc := range []struct {
		name string
		o    contract.DeliverOrder
		code string
	}{
		{"unknown identity", contract.DeliverOrder{Order: "sync", RemoteID: "nope", UserID: f.user}, "unknown_identity"},
		{"e-mail identity", contract.DeliverOrder{Order: "sync", RemoteID: mail.ID, UserID: f.user}, "bad_identity"},
		{"unknown draft", contract.DeliverOrder{MessageID: "nope", Order: "deliver", RemoteID: f.ident.ID, UserID: f.user}, "unknown_message"},
		{"no text", contract.DeliverOrder{MessageID: empty.ID, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user}, "invalid_draft"},
		{"unknown recipient", contract.DeliverOrder{MessageID: nobody.ID, Order: "deliver", RemoteID: f.ident.ID, UserID: f.user}, "unknown_recipient"},
	} {
		code, errCode, body := f.order(tc.o)
		if code != http.StatusUnprocessableEntity || errCode != tc.code {
			t.Errorf("%s: %d %q %s, want 422 %s", tc.name, code, errCode, body, tc.code)
		}
	}
	// Bad credentials are recorded on the identity; the order is acknowledged.
	f.x.AddOAuth1("app", "appsecret", "100-tok", "changed", "100")
	f.sync()
	id, _ := f.st.GetIdentity(ctx, f.user, f.ident.ID)
	if id.Sync.ErrorCount != 1 || id.Sync.LastError == "" {
		t.Errorf("bad credentials: %+v", id.Sync)
	}
}

// TestResumeCutWalk: a walk cut by MaxPages is resumed below what it read,
// each DM stored once, and later syncs read only what is new.
func TestResumeCutWalk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.b.cfg.MaxPages = 2
	for i := range 530 {
		f.x.Message("200", "100", "dm "+strconv.Itoa(i))
	}
	for range 3 {
		f.sync()
	}
	if n := len(f.messages()); n != 530 {
		t.Fatalf("%d messages after three syncs, want 530", n)
	}
	id, _ := f.st.GetIdentity(context.Background(), f.user, f.ident.ID)
	if strings.Contains(id.Sync.Cursor, " ") {
		t.Errorf("position %q still resuming", id.Sync.Cursor)
	}
	f.x.Message("300", "100", "new one")
	before, requests := f.x.Requests()[xapitest.GroupDMLookup], len(f.em.requests)
	f.sync()
	if n := len(f.messages()); n != 531 || f.x.Requests()[xapitest.GroupDMLookup] != before+1 || len(f.em.requests) != requests+1 {
		t.Errorf("after one new DM: %d messages, %d pages, %d process_inbound", n,
			f.x.Requests()[xapitest.GroupDMLookup]-before, len(f.em.requests)-requests)
	}
}

// TestOAuth2Refresh: an account whose access token expired is renewed
// through X's token endpoint (oauth2creds, provider twitter) before the
// sync, and the renewed credentials are stored sealed.
func TestOAuth2Refresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.x.AddBearer("expired", "100", time.Now().Add(-time.Hour))
	f.x.AddOAuth2Client("caliopen-app", "app-secret", "refresh-1", "100")
	f.x.Message("200", "100", "hello")
	id, err := f.st.CreateIdentity(ctx, store.Identity{ID: "tw2", UserID: f.user, Type: store.RemoteIdentity,
		Protocol: store.ProtocolTwitter, Identifier: "alice2", Infos: map[string]string{"authtype": "oauth2", "provider": "twitter"}})
	if err != nil {
		t.Fatal(err)
	}
	ring := f.b.deps.Keyring.(*secrets.Keyring)
	creds, _ := ring.Seal([]byte(`{"oauth2accesstoken":"expired","oauh2refreshtoken":"refresh-1","tokenexpiry":"`+
		time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+`"}`), []byte(id.ID))
	if err := f.st.SetCredentials(ctx, f.user, id.ID, creds); err != nil {
		t.Fatal(err)
	}
	f.b.deps.Tokens = oauth2creds.New(oauth2creds.Config{Providers: map[string]oauth2creds.Provider{
		"twitter": {ClientID: "caliopen-app", ClientSecret: "app-secret", TokenURL: f.x.URL + "/2/oauth2/token"}}}, ring, f.st, nil)
	code, errCode, body := f.order(contract.DeliverOrder{Order: "sync", RemoteID: id.ID, UserID: f.user})
	if code != 200 || strings.Contains(body, "failure") {
		t.Fatalf("sync: %d %s %s", code, errCode, body)
	}
	got, _ := f.st.GetIdentity(ctx, f.user, id.ID)
	plain, err := ring.Open(got.Credentials, []byte(id.ID))
	if err != nil || strings.Contains(string(plain), `"expired"`) || strings.Contains(string(plain), "refresh-1") {
		t.Errorf("stored credentials after the refresh: %s %v", plain, err)
	}
	if n := f.x.Requests()[xapitest.GroupToken]; n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	ms, _, _ := f.st.ListMessages(ctx, f.user, store.MessageFilter{}, store.Page{})
	if len(ms) != 1 {
		t.Errorf("%d messages after the sync, want 1", len(ms))
	}
}

// TestBudgetFollowUp: a sync whose budget ends leaves the rest to a
// follow-up sync it publishes (the seed's sync payload), after releasing
// the lease; the follow-ups import everything once.
func TestBudgetFollowUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.b.cfg.Budget = time.Nanosecond // one event a sync
	f.b.cfg.InFlight = 1
	for i := range 5 {
		f.x.Message("200", "100", "dm "+strconv.Itoa(i))
	}
	for i := range 10 {
		body := f.sync()
		if !strings.Contains(body, "more to come") {
			if i != 4 {
				t.Errorf("sync %d ended the import: %s", i, body)
			}
			break
		}
	}
	want := `{"order":"sync","remote_id":"` + f.ident.ID + `","user_id":"` + f.user + `"}`
	if len(f.em.followups) != 4 || f.em.followups[0] != want {
		t.Errorf("follow-ups %v, want 4 of %s", f.em.followups, want)
	}
	if n := len(f.messages()); n != 5 {
		t.Errorf("%d messages, want 5", n)
	}
}
