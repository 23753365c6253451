package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// testOwnership gives user A one of everything and checks that user B can
// neither see nor change any of it through any method.
func testOwnership(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a, b := user(t, s, "a"), user(t, s, "b")
	id := remote(t, s, a, "a@remote.example")
	noErr(t, s.SetNextRun(c, a.ID, id.ID, at(0)))
	disc := try(s.EnsureDiscussion(c, a.ID, "k", "s")).ok(t)
	raw := try(s.PutRaw(c, store.RawMessage{BlobKey: "raw/a", Size: 1})).ok(t)
	msg := inbound(a, id.ID, "a@x", 0)
	msg.DiscussionID, msg.RawMsgID = disc.ID, raw.ID
	m, _ := put(s.PutInbound(c, msg)).ok(t)
	draft := try(s.CreateDraft(c, store.Message{UserID: a.ID, BodyPlain: "a's draft"})).ok(t)
	ct := try(s.CreateContact(c, store.Contact{UserID: a.ID, Title: "a's friend",
		Emails: []store.ContactEmail{{Address: "friend@x.example"}}})).ok(t)
	key := try(s.UpsertPublicKey(c, store.PublicKey{UserID: a.ID, ContactID: ct.ID, Fingerprint: "AA", Armored: "k"})).ok(t)
	try(s.UpsertTag(c, store.Tag{UserID: a.ID, Name: "secret"})).ok(t)
	notif := try(s.CreateNotification(c, store.Notification{UserID: a.ID, Body: "{}"})).ok(t)
	before := snapshot(t, s, a, id, m, draft, ct, key)

	notFound := func(what string, err error) { t.Helper(); wantErr(t, "B: "+what, err, store.ErrNotFound) }
	_, err := s.GetIdentity(c, b.ID, id.ID)
	notFound("GetIdentity", err)
	hijack := id
	hijack.UserID, hijack.DisplayName = b.ID, "hijacked"
	_, err = s.UpdateIdentity(c, hijack)
	notFound("UpdateIdentity", err)
	notFound("DeleteIdentity", s.DeleteIdentity(c, b.ID, id.ID))
	notFound("SetCredentials", s.SetCredentials(c, b.ID, id.ID, secrets.Sealed{}))
	notFound("SaveSyncProgress", s.SaveSyncProgress(c, b.ID, id.ID, store.SyncProgress{Cursor: "x"}))
	_, err = s.RecordSyncError(c, b.ID, id.ID, "x", at(0))
	notFound("RecordSyncError", err)
	_, err = s.AcquireSync(c, b.ID, id.ID, at(0), time.Hour)
	notFound("AcquireSync", err)
	notFound("ReleaseSync", s.ReleaseSync(c, b.ID, id.ID))
	notFound("SetIdentityStatus", s.SetIdentityStatus(c, b.ID, id.ID, store.Inactive))
	notFound("SetNextRun", s.SetNextRun(c, b.ID, id.ID, at(time.Hour)))

	_, err = s.GetMessage(c, b.ID, m.ID)
	notFound("GetMessage", err)
	_, err = s.MessageRaw(c, b.ID, m.ID)
	notFound("MessageRaw", err)
	notFound("SetMessageFlags", s.SetMessageFlags(c, b.ID, m.ID, store.MessageFlags{IsUnread: ptr(false)}))
	notFound("SetMessageTags", s.SetMessageTags(c, b.ID, m.ID, []string{"x"}))
	notFound("DeleteMessage", s.DeleteMessage(c, b.ID, m.ID))
	stolen := draft
	stolen.UserID, stolen.BodyPlain = b.ID, "stolen"
	_, err = s.UpdateDraft(c, stolen)
	notFound("UpdateDraft", err)
	_, err = s.BeginSend(c, b.ID, draft.ID, time.Hour, store.SendAttempt{})
	notFound("BeginSend", err)
	_, err = s.MarkSent(c, b.ID, draft.ID, store.SentInfo{MessageID: "x@y"})
	notFound("MarkSent", err)
	notFound("MarkSendFailed", s.MarkSendFailed(c, b.ID, draft.ID, "x"))
	_, err = s.CreateDraft(c, store.Message{ID: draft.ID, UserID: b.ID})
	wantErr(t, "B: CreateDraft reusing A's draft id", err, store.ErrConflict)
	_, _, err = s.PutInbound(c, store.Message{ID: m.ID, UserID: b.ID})
	wantErr(t, "B: PutInbound reusing A's message id", err, store.ErrConflict)
	_, err = s.GetDiscussion(c, b.ID, disc.ID)
	notFound("GetDiscussion", err)

	_, err = s.GetContact(c, b.ID, ct.ID)
	notFound("GetContact", err)
	stolenCt := ct
	stolenCt.UserID = b.ID
	_, err = s.UpdateContact(c, stolenCt)
	notFound("UpdateContact", err)
	notFound("DeleteContact", s.DeleteContact(c, b.ID, ct.ID))
	_, err = s.CreateContact(c, store.Contact{ID: ct.ID, UserID: b.ID})
	wantErr(t, "B: CreateContact reusing A's contact id", err, store.ErrConflict)
	_, err = s.GetPublicKey(c, b.ID, key.ID)
	notFound("GetPublicKey", err)
	notFound("DeletePublicKey", s.DeletePublicKey(c, b.ID, key.ID))
	_, err = s.UpsertPublicKey(c, store.PublicKey{UserID: b.ID, ContactID: ct.ID, Fingerprint: "BB", Armored: "k"})
	notFound("UpsertPublicKey on A's contact", err)
	notFound("DeleteTag", s.DeleteTag(c, b.ID, "secret"))
	notFound("DeleteNotification", s.DeleteNotification(c, b.ID, notif.ID))

	empty := func(what string, n int) {
		t.Helper()
		if n != 0 {
			t.Errorf("B: %s shows %d of A's objects", what, n)
		}
	}
	empty("ListIdentities", len(try(s.ListIdentities(c, b.ID, store.IdentityFilter{})).ok(t)))
	msgs, _ := page(s.ListMessages(c, b.ID, store.MessageFilter{}, store.Page{})).ok(t)
	empty("ListMessages", len(msgs))
	inDisc, _ := page(s.ListMessages(c, b.ID, store.MessageFilter{DiscussionID: disc.ID}, store.Page{})).ok(t)
	empty("ListMessages(A's discussion)", len(inDisc))
	empty("MessagesByExternalID", len(try(s.MessagesByExternalID(c, b.ID, []string{"a@x"})).ok(t)))
	discs, _ := page(s.ListDiscussions(c, b.ID, store.Page{})).ok(t)
	empty("ListDiscussions", len(discs))
	cts, _ := page(s.ListContacts(c, b.ID, store.Page{})).ok(t)
	empty("ListContacts", len(cts))
	empty("FindContacts", len(try(s.FindContacts(c, b.ID, store.LookupEmail, "friend@x.example")).ok(t)))
	empty("ListPublicKeys", len(try(s.ListPublicKeys(c, b.ID, "")).ok(t)))
	empty("ListPublicKeys(A's contact)", len(try(s.ListPublicKeys(c, b.ID, ct.ID)).ok(t)))
	empty("ListTags", len(try(s.ListTags(c, b.ID)).ok(t)))
	notifs, _ := page(s.ListNotifications(c, b.ID, store.Page{})).ok(t)
	empty("ListNotifications", len(notifs))

	if after := snapshot(t, s, a, id, m, draft, ct, key); !reflect.DeepEqual(before, after) {
		t.Errorf("B's attempts changed A's objects:\nbefore %+v\nafter  %+v", before, after)
	}
}

// snapshot reads A's objects back, to check that nothing changed them.
func snapshot(t *testing.T, s *store.SQL, a store.User, id store.Identity, m, draft store.Message, ct store.Contact, key store.PublicKey) []any {
	c := ctx(t)
	tags := try(s.ListTags(c, a.ID)).ok(t)
	notifs, _ := page(s.ListNotifications(c, a.ID, store.Page{})).ok(t)
	due := try(s.DueSchedules(c, at(0), 10)).ok(t)
	return []any{
		try(s.GetIdentity(c, a.ID, id.ID)).ok(t),
		try(s.GetMessage(c, a.ID, m.ID)).ok(t),
		try(s.GetMessage(c, a.ID, draft.ID)).ok(t),
		try(s.GetContact(c, a.ID, ct.ID)).ok(t),
		try(s.GetPublicKey(c, a.ID, key.ID)).ok(t),
		len(tags), len(notifs), due,
	}
}
