package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// inbound returns a received message of u with Message-ID msgID, sorted at
// at(sort).
func inbound(u store.User, identityID, msgID string, sort time.Duration) store.Message {
	return store.Message{UserID: u.ID, IdentityIDs: []string{identityID}, Protocol: store.ProtocolEmail,
		Subject: "hello " + msgID, BodyPlain: "body of " + msgID, IsReceived: true, IsUnread: true,
		Date: at(sort - time.Minute), DateSort: at(sort), External: store.ExternalRefs{MessageID: msgID}}
}

func testMessageRoundTrip(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "r")
	raw := try(s.PutRaw(c, store.RawMessage{BlobKey: "raw/1", Size: 1234})).ok(t)
	d := try(s.EnsureDiscussion(c, u.ID, "thread-1", "Subject")).ok(t)
	in := store.Message{UserID: u.ID, DiscussionID: d.ID, IdentityIDs: []string{"i1", "i2"},
		Protocol: store.ProtocolEmail, Subject: "Sujet é ✓", BodyPlain: "plain", BodyHTML: "<p>html</p>",
		Participants: []store.Participant{
			{Type: "From", Address: "a@x.example", Label: "A", Protocol: "email", ContactIDs: []string{"c1"}},
			{Type: "To", Address: "b@y.example"},
		},
		Date: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600)), DateSort: at(0),
		IsUnread: true, IsReceived: true, IsAnswered: true, Importance: 3,
		External: store.ExternalRefs{MessageID: "id-1@x.example", InReplyTo: "id-0@x.example",
			References: []string{"id-a@x", "id-0@x.example"}},
		Attachments: []store.Attachment{{ContentType: "application/pdf", FileName: "a.pdf", Size: 99,
			BlobKey: "att/1", MIMEBoundary: "b1"}, {ContentType: "image/png", IsInline: true, Size: 1}},
		RawMsgID: raw.ID, Tags: []string{"inbox", "work"},
		PI:       store.PrivacyIndex{Technic: 10, Comportment: 20, Context: 30, Version: 1, DateUpdate: at(time.Second)},
		Features: map[string]string{"transport_signed": "True"},
	}
	m, dup := put(s.PutInbound(c, in)).ok(t)
	if dup {
		t.Fatal("first PutInbound reported a duplicate")
	}
	got := try(s.GetMessage(c, u.ID, m.ID)).ok(t)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("GetMessage differs from what PutInbound returned:\n got %+v\nwant %+v", got, m)
	}
	if !got.Date.Equal(in.Date.Truncate(time.Microsecond)) || got.Date.Location() != time.UTC {
		t.Errorf("Date = %v, want %v in UTC at microsecond precision", got.Date, in.Date)
	}
	want := in
	want.ID, want.Date, want.DateInsert, want.UpdatedAt = m.ID, got.Date, got.DateInsert, got.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip lost fields:\n got %+v\nwant %+v", got, want)
	}
	r := try(s.MessageRaw(c, u.ID, m.ID)).ok(t)
	if r.ID != raw.ID || r.BlobKey != "raw/1" || r.Size != 1234 {
		t.Errorf("MessageRaw = %+v, want %+v", r, raw)
	}
	plain, _ := put(s.PutInbound(c, store.Message{UserID: u.ID})).ok(t)
	_, err := s.MessageRaw(c, u.ID, plain.ID)
	wantErr(t, "MessageRaw of a message without raw", err, store.ErrNotFound)
	_, _, err = s.PutInbound(c, store.Message{UserID: u.ID, RawMsgID: "no-such-raw"})
	wantErr(t, "PutInbound with an unknown raw message", err, store.ErrNotFound)
}

func testInboundDedup(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a, b := user(t, s, "a"), user(t, s, "b")
	first, dup := put(s.PutInbound(c, inbound(a, "ia1", "dup@x.example", 0))).ok(t)
	if dup {
		t.Fatal("first delivery reported as duplicate")
	}
	again, dup := put(s.PutInbound(c, inbound(a, "ia1", "dup@x.example", time.Hour))).ok(t)
	if !dup || again.ID != first.ID || !again.DateSort.Equal(first.DateSort) {
		t.Errorf("redelivery = %s dup=%v, want %s dup=true unchanged", again.ID, dup, first.ID)
	}
	viaOther, dup := put(s.PutInbound(c, inbound(a, "ia2", "dup@x.example", 0))).ok(t)
	if !dup || viaOther.ID != first.ID || fmt.Sprint(viaOther.IdentityIDs) != "[ia1 ia2]" {
		t.Errorf("delivery through a second identity = %+v dup=%v, want identities [ia1 ia2]", viaOther.IdentityIDs, dup)
	}
	if got := try(s.GetMessage(c, a.ID, first.ID)).ok(t); fmt.Sprint(got.IdentityIDs) != "[ia1 ia2]" {
		t.Errorf("stored identities = %v, want [ia1 ia2]", got.IdentityIDs)
	}
	sameID := inbound(a, "ia1", "other@x.example", 0)
	sameID.ID = first.ID
	if m, dup := put(s.PutInbound(c, sameID)).ok(t); !dup || m.ID != first.ID {
		t.Errorf("PutInbound repeating an id = %s dup=%v, want the stored message", m.ID, dup)
	}
	forB, dup := put(s.PutInbound(c, inbound(b, "ib1", "dup@x.example", 0))).ok(t)
	if dup || forB.ID == first.ID {
		t.Errorf("same Message-ID for another user = %s dup=%v, want a new message", forB.ID, dup)
	}
	n1, _ := put(s.PutInbound(c, inbound(a, "ia1", "", 0))).ok(t)
	n2, dup := put(s.PutInbound(c, inbound(a, "ia1", "", 0))).ok(t)
	if dup || n1.ID == n2.ID {
		t.Error("two messages without Message-ID were deduplicated")
	}
	msgs, _ := page(s.ListMessages(c, a.ID, store.MessageFilter{}, store.Page{})).ok(t)
	if len(msgs) != 3 {
		t.Errorf("user a has %d messages, want 3", len(msgs))
	}
	found := try(s.MessagesByExternalID(c, a.ID, []string{"dup@x.example", "unknown@x"})).ok(t)
	if len(found) != 1 || found[0].ID != first.ID {
		t.Errorf("MessagesByExternalID = %d messages, want a's one", len(found))
	}
	_, _, err := s.PutInbound(c, store.Message{})
	wantErr(t, "PutInbound without user", err, store.ErrInvalid)
}

// testContentDedup: a reused Message-ID with other content is a second
// message, both marked; the same Message-ID and content is a duplicate.
func testContentDedup(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a := user(t, s, "a")
	withHash := func(mid, hash string) store.Message {
		m := inbound(a, "ia1", mid, 0)
		m.ContentHash = hash
		return m
	}
	forged, dup := put(s.PutInbound(c, withHash("invoice@bank.example", "forged"))).ok(t)
	if dup || forged.MessageIDReused {
		t.Fatalf("first mail: dup=%v reused=%v", dup, forged.MessageIDReused)
	}
	real, dup := put(s.PutInbound(c, withHash("invoice@bank.example", "real"))).ok(t)
	if dup || real.ID == forged.ID || !real.MessageIDReused {
		t.Errorf("other mail under the same Message-ID = %s dup=%v reused=%v, want a new message, marked",
			real.ID, dup, real.MessageIDReused)
	}
	if got := try(s.GetMessage(c, a.ID, forged.ID)).ok(t); !got.MessageIDReused {
		t.Error("the first mail is not marked once its Message-ID is reused")
	}
	copyOf, dup := put(s.PutInbound(c, withHash("invoice@bank.example", "real"))).ok(t)
	if !dup || copyOf.ID != real.ID {
		t.Errorf("a copy of the second mail = %s dup=%v, want %s dup=true", copyOf.ID, dup, real.ID)
	}
	if found := try(s.MessagesByExternalID(c, a.ID, []string{"invoice@bank.example"})).ok(t); len(found) != 2 {
		t.Errorf("MessagesByExternalID = %d messages, want both", len(found))
	}
	// A message stored without a hash (a sent one, or one stored before
	// hashes) matches any content.
	plain, _ := put(s.PutInbound(c, withHash("sent@a.example", ""))).ok(t)
	if got, dup := put(s.PutInbound(c, withHash("sent@a.example", "h"))).ok(t); !dup || got.ID != plain.ID {
		t.Errorf("a mail under the Message-ID of one without a hash = %s dup=%v, want %s dup=true", got.ID, dup, plain.ID)
	}
	if msgs, _ := page(s.ListMessages(c, a.ID, store.MessageFilter{}, store.Page{})).ok(t); len(msgs) != 3 {
		t.Errorf("user has %d messages, want 3", len(msgs))
	}
}

func testMessageListing(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "l")
	d := try(s.EnsureDiscussion(c, u.ID, "t", "")).ok(t)
	var want []string
	for i := range 25 {
		m := inbound(u, "i", fmt.Sprintf("m%d@x", i), time.Duration(i%5)*time.Minute) // ties on DateSort
		if i%2 == 0 {
			m.DiscussionID = d.ID
		}
		m.IsUnread = i%3 == 0
		got, _ := put(s.PutInbound(c, m)).ok(t)
		want = append(want, got.ID)
	}
	got, pages := walk(t, 10, func(p store.Page) ([]store.Message, string, error) {
		return s.ListMessages(c, u.ID, store.MessageFilter{}, p)
	}, nil)
	if len(got) != 25 || pages != 3 {
		t.Fatalf("listed %d messages in %d pages, want 25 in 3", len(got), pages)
	}
	seen := map[string]bool{}
	for i, m := range got {
		if seen[m.ID] {
			t.Errorf("message %s listed twice", m.ID)
		}
		seen[m.ID] = true
		if i > 0 {
			prev := got[i-1]
			if m.DateSort.After(prev.DateSort) || m.DateSort.Equal(prev.DateSort) && m.ID > prev.ID {
				t.Errorf("message %d (%v %s) listed after (%v %s): not newest first", i, m.DateSort, m.ID, prev.DateSort, prev.ID)
			}
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("stored message %s never listed", id)
		}
	}
	inD, _ := page(s.ListMessages(c, u.ID, store.MessageFilter{DiscussionID: d.ID}, store.Page{Limit: 100})).ok(t)
	unread, _ := page(s.ListMessages(c, u.ID, store.MessageFilter{IsUnread: ptr(true)}, store.Page{})).ok(t)
	drafts, _ := page(s.ListMessages(c, u.ID, store.MessageFilter{IsDraft: ptr(true)}, store.Page{})).ok(t)
	if len(inD) != 13 || len(unread) != 9 || len(drafts) != 0 {
		t.Errorf("filtered lists: discussion %d (want 13), unread %d (want 9), drafts %d (want 0)", len(inD), len(unread), len(drafts))
	}
	_, _, err := s.ListMessages(c, u.ID, store.MessageFilter{}, store.Page{After: "eA"})
	wantErr(t, "ListMessages with a bad cursor", err, store.ErrInvalid)
}

func testMessageEdits(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "e")
	m, _ := put(s.PutInbound(c, inbound(u, "i", "e@x", 0))).ok(t)
	noErr(t, s.SetMessageFlags(c, u.ID, m.ID, store.MessageFlags{IsUnread: ptr(false)}))
	got := try(s.GetMessage(c, u.ID, m.ID)).ok(t)
	if got.IsUnread || got.IsAnswered {
		t.Errorf("after marking read: unread=%v answered=%v", got.IsUnread, got.IsAnswered)
	}
	noErr(t, s.SetMessageFlags(c, u.ID, m.ID, store.MessageFlags{IsAnswered: ptr(true)}))
	if got := try(s.GetMessage(c, u.ID, m.ID)).ok(t); got.IsUnread || !got.IsAnswered {
		t.Errorf("after marking answered: unread=%v answered=%v", got.IsUnread, got.IsAnswered)
	}
	noErr(t, s.SetMessageTags(c, u.ID, m.ID, []string{"a", "b"}))
	if got := try(s.GetMessage(c, u.ID, m.ID)).ok(t); fmt.Sprint(got.Tags) != "[a b]" {
		t.Errorf("tags = %v, want [a b]", got.Tags)
	}
	noErr(t, s.DeleteMessage(c, u.ID, m.ID))
	_, err := s.GetMessage(c, u.ID, m.ID)
	wantErr(t, "GetMessage after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteMessage twice", s.DeleteMessage(c, u.ID, m.ID), store.ErrNotFound)
	wantErr(t, "SetMessageFlags unknown", s.SetMessageFlags(c, u.ID, m.ID, store.MessageFlags{}), store.ErrNotFound)
	wantErr(t, "SetMessageTags unknown", s.SetMessageTags(c, u.ID, m.ID, nil), store.ErrNotFound)
}

func testRawMessages(t *testing.T, s *store.SQL) {
	c := ctx(t)
	r := try(s.PutRaw(c, store.RawMessage{ID: "sha256-abc", BlobKey: "raw/abc", Size: 10})).ok(t)
	again := try(s.PutRaw(c, store.RawMessage{ID: "sha256-abc", BlobKey: "raw/other", Size: 99})).ok(t)
	if again != r {
		t.Errorf("repeated PutRaw = %+v, want the stored %+v", again, r)
	}
	noErr(t, s.MarkRawDelivered(c, r.ID))
	noErr(t, s.MarkRawDelivered(c, r.ID))
	if got := try(s.GetRaw(c, r.ID)).ok(t); !got.Delivered {
		t.Error("raw message not delivered after MarkRawDelivered")
	}
	_, err := s.GetRaw(c, "nope")
	wantErr(t, "GetRaw unknown", err, store.ErrNotFound)
	wantErr(t, "MarkRawDelivered unknown", s.MarkRawDelivered(c, "nope"), store.ErrNotFound)
	_, err = s.PutRaw(c, store.RawMessage{Size: 1})
	wantErr(t, "PutRaw without blob key", err, store.ErrInvalid)
	fresh := try(s.PutRaw(c, store.RawMessage{BlobKey: "raw/x", Size: 0})).ok(t)
	if fresh.ID == "" || fresh.Delivered {
		t.Errorf("PutRaw = %+v, want a fresh id, not delivered", fresh)
	}
}

// testForgetRaw: a raw message's record goes only when no message refers
// to it.
func testForgetRaw(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a := user(t, s, "a")
	for _, id := range []string{"used", "orphan"} {
		try(s.PutRaw(c, store.RawMessage{ID: id, BlobKey: "raw/" + id, Size: 1})).ok(t)
	}
	m := inbound(a, "ia1", "fr@x.example", 0)
	m.RawMsgID = "used"
	put(s.PutInbound(c, m)).ok(t)
	for id, want := range map[string]bool{"used": false, "orphan": true, "unrecorded": true} {
		if gone := try(s.ForgetRaw(c, id)).ok(t); gone != want {
			t.Errorf("ForgetRaw(%s) = %v, want %v", id, gone, want)
		}
	}
	if _, err := s.GetRaw(c, "orphan"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("orphan record: %v, want it deleted", err)
	}
	try(s.GetRaw(c, "used")).ok(t)
}
