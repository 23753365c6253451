package twitterworker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapitest"
)

func TestWorker(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := xapitest.New()
	defer x.Close()
	x.AddUser("100", "Alice", "Alice")
	x.AddBearer("good", "100", time.Time{})
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	ring, _ := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: k})
	u, _ := st.CreateUser(ctx, store.User{Name: "alice"})
	mk := func(id, name, token string) store.Identity {
		i, err := st.CreateIdentity(ctx, store.Identity{ID: id, UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolTwitter,
			Identifier: name, Status: store.Inactive, Infos: map[string]string{"authtype": "oauth2"}})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := ring.Seal([]byte(`{"oauth2accesstoken":"`+token+`"}`), []byte(i.ID))
		if err := st.SetCredentials(ctx, u.ID, i.ID, c); err != nil {
			t.Fatal(err)
		}
		return i
	}
	good := mk("tw1", "alice", "good")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	core, err := New(Config{X: xaccount.Config{BaseURL: x.URL, Timeout: 5 * time.Second}},
		Deps{Store: st, Keyring: ring, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	h := fnhttp.New(fnhttp.Config{Function: "twitter-worker"}, contract.Caliopen(), core, slog.New(slog.DiscardHandler))
	send := func(order, id string) (int, string) {
		body, _ := json.Marshal(contract.RemoteOrder{Order: order, RemoteID: id, UserID: u.ID})
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set(fnhttp.HeaderSubject, contract.SubjectTwitterWorker)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Header().Get("Nats-Service-Error-Code")
	}
	for range 2 { // idempotent
		if code, ec := send(contract.OrderAddWorker, good.ID); code != 200 {
			t.Fatalf("add: %d %s", code, ec)
		}
	}
	i, _ := st.GetIdentity(ctx, u.ID, good.ID)
	next, _ := st.GetSchedule(ctx, u.ID, good.ID)
	if i.Status != store.Active || !next.Equal(now) || i.Infos["twitterid"] != "100" || i.Infos["screen_name"] != "Alice" ||
		i.Infos["authtype"] != "oauth2" {
		t.Errorf("after add: %s next %v infos %v", i.Status, next, i.Infos)
	}
	if err := st.SaveSyncProgress(ctx, u.ID, good.ID, store.SyncProgress{Cursor: "1700"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetThrottle(ctx, u.ID, good.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code, ec := send(contract.OrderReloadWorker, good.ID); code != 200 {
		t.Errorf("reload: %d %s", code, ec)
	}
	if i, _ = st.GetIdentity(ctx, u.ID, good.ID); !i.Sync.ThrottledUntil.IsZero() || i.Sync.Cursor != "1700" {
		t.Errorf("after reload: %+v", i.Sync)
	}
	for range 2 {
		if code, ec := send(contract.OrderRemoveWorker, good.ID); code != 200 {
			t.Errorf("remove: %d %s", code, ec)
		}
	}
	i, _ = st.GetIdentity(ctx, u.ID, good.ID)
	if _, err := st.GetSchedule(ctx, u.ID, good.ID); i.Status != store.Inactive || i.Sync.Cursor != "" || err == nil {
		t.Errorf("after remove: %s cursor %q schedule err %v", i.Status, i.Sync.Cursor, err)
	}
	bad := mk("tw2", "alice2", "revoked")
	mail, _ := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "a@example.test"})
	for _, tc := range []struct{ order, id, code string }{
		{contract.OrderAddWorker, bad.ID, "bad_credentials"},
		{contract.OrderAddWorker, "nope", "unknown_identity"},
		{contract.OrderReloadWorker, mail.ID, "not_twitter_identity"},
	} {
		if code, ec := send(tc.order, tc.id); code != 422 || ec != tc.code {
			t.Errorf("%s %s: %d %s, want 422 %s", tc.order, tc.id, code, ec, tc.code)
		}
	}
	if i, _ := st.GetIdentity(ctx, u.ID, bad.ID); i.Status != store.Inactive {
		t.Error("an account with refused credentials was started")
	}
	if code, _ := send(contract.OrderRemoveWorker, "nope"); code != 200 {
		t.Error("removing an unknown identity failed")
	}

	// An active account whose token X revokes waits for new credentials,
	// notified once; new ones make reload_worker resume it from its cursor.
	x.AddBearer("soon-revoked", "100", time.Time{})
	acct := mk("tw3", "alice3", "soon-revoked")
	if code, ec := send(contract.OrderAddWorker, acct.ID); code != 200 {
		t.Fatalf("add: %d %s", code, ec)
	}
	if err := st.SaveSyncProgress(ctx, u.ID, acct.ID, store.SyncProgress{Cursor: "1800"}); err != nil {
		t.Fatal(err)
	}
	x.Revoke("soon-revoked")
	for range 2 {
		if code, ec := send(contract.OrderReloadWorker, acct.ID); code != 422 || ec != "bad_credentials" {
			t.Errorf("reload with a revoked token: %d %s", code, ec)
		}
	}
	ns, _, _ := st.ListNotifications(ctx, u.ID, store.Page{})
	if i, _ := st.GetIdentity(ctx, u.ID, acct.ID); i.Status != store.ReauthRequired || len(ns) != 1 ||
		ns[0].Type != store.ReauthNotification {
		t.Fatalf("after the revocation: %s, notifications %+v", i.Status, ns)
	}
	x.AddBearer("new-token", "100", time.Time{})
	c, _ := ring.Seal([]byte(`{"oauth2accesstoken":"new-token"}`), []byte(acct.ID))
	if err := st.SetCredentials(ctx, u.ID, acct.ID, c); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if code, ec := send(contract.OrderReloadWorker, acct.ID); code != 200 {
		t.Fatalf("reload with new credentials: %d %s", code, ec)
	}
	next, _ = st.GetSchedule(ctx, u.ID, acct.ID)
	if i, _ := st.GetIdentity(ctx, u.ID, acct.ID); i.Status != store.Active || i.Sync.Cursor != "1800" || !next.Equal(now) {
		t.Errorf("after new credentials: %s cursor %q next %v", i.Status, i.Sync.Cursor, next)
	}
}
