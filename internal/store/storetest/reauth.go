package storetest

import (
	"testing"

	"github.com/caliopen/functions/internal/store"
)

// testReauth: an active identity moves to reauth_required once, with its
// notification in the same write; the scheduler no longer finds it due;
// its cursor stays; giving it back the active status makes it due again.
func testReauth(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "r")
	id := remote(t, s, u, "r@remote.example")
	noErr(t, s.SaveSyncProgress(c, u.ID, id.ID, store.SyncProgress{Cursor: "42", At: at(0)}))
	noErr(t, s.SetNextRun(c, u.ID, id.ID, at(0)))
	n := store.Notification{UserID: u.ID, Type: store.ReauthNotification, Emitter: "test", Reference: id.ID, Body: `{}`}
	if changed := try(s.RequireReauth(c, u.ID, id.ID, "refresh token refused", n)).ok(t); !changed {
		t.Fatal("RequireReauth of an active identity changed nothing")
	}
	if changed := try(s.RequireReauth(c, u.ID, id.ID, "again", n)).ok(t); changed {
		t.Error("a second RequireReauth changed the identity again")
	}
	got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t)
	if got.Status != store.ReauthRequired || got.Sync.LastError != "refresh token refused" || got.Sync.Cursor != "42" {
		t.Errorf("after RequireReauth: status %s sync %+v", got.Status, got.Sync)
	}
	ns, _, err := s.ListNotifications(c, u.ID, store.Page{})
	noErr(t, err)
	if len(ns) != 1 || ns[0].Type != store.ReauthNotification || ns[0].Reference != id.ID {
		t.Errorf("notifications %+v, want one reauth_required", ns)
	}
	for _, d := range try(s.DueSchedules(c, at(1), 100)).ok(t) {
		if d.IdentityID == id.ID {
			t.Error("an identity waiting for new credentials is due")
		}
	}
	_, err = s.RequireReauth(c, u.ID, "no-such-identity", "x", n)
	wantErr(t, "RequireReauth of an unknown identity", err, store.ErrNotFound)
	got.Status = store.Active
	try(s.UpdateIdentity(c, got)).ok(t)
	due := false
	for _, d := range try(s.DueSchedules(c, at(1), 100)).ok(t) {
		due = due || d.IdentityID == id.ID
	}
	if got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t); !due || got.Sync.Cursor != "42" {
		t.Errorf("after new credentials: due %v cursor %q", due, got.Sync.Cursor)
	}
}

// testRemoteHandles: ids remembered per user and protocol, addresses
// compared lowercased, a new id replacing the old.
func testRemoteHandles(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "h")
	v := user(t, s, "h2")
	noErr(t, s.RememberHandles(c, u.ID, store.ProtocolTwitter, map[string]string{"Bob": "200", "carol": "300", "": "1"}))
	if id := try(s.HandleID(c, u.ID, store.ProtocolTwitter, "bob")).ok(t); id != "200" {
		t.Errorf("bob is %q", id)
	}
	noErr(t, s.RememberHandles(c, u.ID, store.ProtocolTwitter, map[string]string{"bob": "201"}))
	if id := try(s.HandleID(c, u.ID, store.ProtocolTwitter, "BOB")).ok(t); id != "201" {
		t.Errorf("bob after a rename is %q", id)
	}
	_, err := s.HandleID(c, v.ID, store.ProtocolTwitter, "bob")
	wantErr(t, "another user's handle", err, store.ErrNotFound)
	_, err = s.HandleID(c, u.ID, store.ProtocolMastodon, "bob")
	wantErr(t, "another protocol's handle", err, store.ErrNotFound)
}
