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

// testInboundNotify: the notification is stored with a new message, again
// (kept) with a redelivery of the same raw message, not with another copy.
func testInboundNotify(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "in")
	raw1 := try(s.PutRaw(c, store.RawMessage{BlobKey: "raw/n1", Size: 1})).ok(t)
	raw2 := try(s.PutRaw(c, store.RawMessage{BlobKey: "raw/n2", Size: 1})).ok(t)
	calls := 0
	notify := func(m store.Message) store.Notification {
		calls++
		return store.Notification{ID: "n-" + m.ID, UserID: m.UserID, Reference: m.ID, Body: "{}"}
	}
	count := func() int {
		items, _ := page(s.ListNotifications(c, u.ID, store.Page{})).ok(t)
		return len(items)
	}
	m := inbound(u, "i", "notify-1@x", 0)
	m.RawMsgID = raw1.ID
	first, dup := put(s.PutInboundNotify(c, m, notify)).ok(t)
	if dup || count() != 1 {
		t.Fatalf("new message: dup %v, %d notifications, want 1", dup, count())
	}
	if _, dup := put(s.PutInboundNotify(c, m, notify)).ok(t); !dup || count() != 1 || calls != 2 {
		t.Errorf("redelivery of the same raw message: dup %v, %d notifications (want 1, kept), notify called %d times (want 2)",
			dup, count(), calls)
	}
	m.RawMsgID = raw2.ID
	if _, dup := put(s.PutInboundNotify(c, m, notify)).ok(t); !dup || calls != 2 {
		t.Errorf("another copy: dup %v, notify called %d times, want still 2", dup, calls)
	}
	other := inbound(u, "i", "notify-2@x", time.Minute)
	put(s.PutInboundNotify(c, other, nil)).ok(t)
	if count() != 1 {
		t.Errorf("a nil notify stored a notification: %d", count())
	}
	if items, _ := page(s.ListNotifications(c, u.ID, store.Page{})).ok(t); items[0].Reference != first.ID {
		t.Errorf("notification references %q, want %q", items[0].Reference, first.ID)
	}
}
