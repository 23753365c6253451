package storetest

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

func testDiscussions(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a, b := user(t, s, "a"), user(t, s, "b")
	d1 := try(s.EnsureDiscussion(c, a.ID, "k1", "first")).ok(t)
	if again := try(s.EnsureDiscussion(c, a.ID, "k1", "other subject")).ok(t); again.ID != d1.ID || again.Subject != "first" {
		t.Errorf("EnsureDiscussion twice = %+v, want %+v", again, d1)
	}
	d2 := try(s.EnsureDiscussion(c, a.ID, "k2", "second")).ok(t)
	empty := try(s.EnsureDiscussion(c, a.ID, "k3", "no messages")).ok(t)
	if bd := try(s.EnsureDiscussion(c, b.ID, "k1", "b's")).ok(t); bd.ID == d1.ID {
		t.Error("two users share a discussion")
	}
	m := inbound(a, "i", "1@x", 10*time.Minute)
	m.DiscussionID = d1.ID
	put(s.PutInbound(c, m)).ok(t)
	m = inbound(a, "i", "2@x", 20*time.Minute)
	m.DiscussionID, m.IsUnread = d2.ID, false
	put(s.PutInbound(c, m)).ok(t)
	m = inbound(a, "i", "3@x", 5*time.Minute) // older: does not move d1 back
	m.DiscussionID = d1.ID
	put(s.PutInbound(c, m)).ok(t)

	list, _ := page(s.ListDiscussions(c, a.ID, store.Page{})).ok(t)
	if len(list) != 2 || list[0].ID != d2.ID || list[1].ID != d1.ID {
		t.Fatalf("ListDiscussions = %+v, want d2 then d1 (and not the empty one)", list)
	}
	if list[1].Total != 2 || list[1].Unread != 2 || !list[1].LastMessageAt.Equal(at(10*time.Minute)) {
		t.Errorf("d1 = %+v, want 2 messages, 2 unread, last at +10m", list[1])
	}
	if list[0].Total != 1 || list[0].Unread != 0 {
		t.Errorf("d2 = %+v, want 1 message, 0 unread", list[0])
	}
	first, next := page(s.ListDiscussions(c, a.ID, store.Page{Limit: 1})).ok(t)
	second, last := page(s.ListDiscussions(c, a.ID, store.Page{Limit: 1, After: next})).ok(t)
	if len(first) != 1 || len(second) != 1 || first[0].ID != d2.ID || second[0].ID != d1.ID || last != "" {
		t.Errorf("paged discussions = %v %v (next %q)", first, second, last)
	}
	draft := try(s.CreateDraft(c, store.Message{UserID: a.ID, DiscussionID: d1.ID})).ok(t)
	if got := try(s.GetDiscussion(c, a.ID, d1.ID)).ok(t); got.Total != 3 || !got.LastMessageAt.Equal(draft.DateSort) {
		t.Errorf("after a draft in d1: %+v, want 3 messages, last at the draft", got)
	}
	if got := try(s.GetDiscussion(c, a.ID, empty.ID)).ok(t); got.Total != 0 {
		t.Errorf("empty discussion = %+v", got)
	}
	// A message cannot join another user's discussion.
	_, _, err := s.PutInbound(c, store.Message{UserID: b.ID, DiscussionID: d1.ID})
	wantErr(t, "PutInbound into another user's discussion", err, store.ErrNotFound)
	_, err = s.CreateDraft(c, store.Message{UserID: b.ID, DiscussionID: d1.ID})
	wantErr(t, "CreateDraft into another user's discussion", err, store.ErrNotFound)
	_, err = s.GetDiscussion(c, a.ID, "nope")
	wantErr(t, "GetDiscussion unknown", err, store.ErrNotFound)
	_, err = s.EnsureDiscussion(c, a.ID, "", "x")
	wantErr(t, "EnsureDiscussion without key", err, store.ErrInvalid)
}
