package storetest

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

func testNotifications(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "n")
	now := time.Now().UTC()
	var ids []string
	for i := range 5 {
		n := try(s.CreateNotification(c, store.Notification{UserID: u.ID, Type: "event", Emitter: "smtp-inbound",
			Reference: "m", Body: `{"size":1}`, CreatedAt: now.Add(time.Duration(i-10) * time.Minute),
			ExpiresAt: now.Add(time.Hour)})).ok(t)
		ids = append(ids, n.ID)
	}
	expired := try(s.CreateNotification(c, store.Notification{UserID: u.ID, Body: "{}", CreatedAt: now.Add(-time.Hour),
		ExpiresAt: now.Add(-time.Minute)})).ok(t)
	forever := try(s.CreateNotification(c, store.Notification{UserID: u.ID, Body: "{}"})).ok(t)
	again := try(s.CreateNotification(c, store.Notification{ID: forever.ID, UserID: u.ID, Body: "changed"})).ok(t)
	if again.Body != "{}" {
		t.Errorf("repeated CreateNotification = %+v, want the stored one", again)
	}
	notifs, _ := walk(t, 4, func(p store.Page) ([]store.Notification, string, error) {
		return s.ListNotifications(c, u.ID, p)
	}, nil)
	var got []string
	for _, n := range notifs {
		got = append(got, n.ID)
	}
	want := []string{forever.ID, ids[4], ids[3], ids[2], ids[1], ids[0]}
	if len(got) != len(want) {
		t.Fatalf("listed %d notifications, want %d (the expired one hidden)", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("notification %d = %s, want %s (newest first)", i, got[i], want[i])
		}
	}
	if n := try(s.PurgeNotifications(c, now)).ok(t); n != 1 {
		t.Errorf("PurgeNotifications = %d, want 1", n)
	}
	if n := try(s.PurgeNotifications(c, now.Add(2*time.Hour))).ok(t); n != 5 {
		t.Errorf("PurgeNotifications later = %d, want 5 (not the one that never expires)", n)
	}
	noErr(t, s.DeleteNotification(c, u.ID, forever.ID))
	wantErr(t, "DeleteNotification twice", s.DeleteNotification(c, u.ID, forever.ID), store.ErrNotFound)
	wantErr(t, "DeleteNotification of a purged one", s.DeleteNotification(c, u.ID, expired.ID), store.ErrNotFound)
	if items, _ := page(s.ListNotifications(c, u.ID, store.Page{})).ok(t); len(items) != 0 {
		t.Errorf("%d notifications left, want 0", len(items))
	}
}
