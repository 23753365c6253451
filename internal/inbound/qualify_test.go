package inbound_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/store"
)

type fixture struct {
	t     *testing.T
	st    *store.SQL
	q     *inbound.Qualifier
	user  store.User
	ident store.Identity
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u, err := st.CreateUser(ctx, store.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity, Protocol: store.ProtocolEmail,
		Identifier: "alice@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, q: &inbound.Qualifier{Store: st, Now: time.Now}, user: u, ident: id}
}

// deliver records a raw message for raw and delivers it to alice.
func (f *fixture) deliver(rawID string, raw []byte) inbound.Outcome {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.st.PutRaw(ctx, store.RawMessage{ID: rawID, BlobKey: "raw/" + rawID, Size: int64(len(raw))}); err != nil {
		f.t.Fatal(err)
	}
	out, err := f.q.Deliver(ctx, inbound.Input{UserID: f.user.ID, IdentityID: f.ident.ID, RawID: rawID, Raw: raw})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) notifications() int {
	f.t.Helper()
	ns, _, err := f.st.ListNotifications(context.Background(), f.user.ID, store.Page{Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(ns)
}

func mail(t *testing.T, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeliverThreadsDedupsAndNotifies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, err := f.st.CreateContact(ctx, store.Contact{UserID: f.user.ID, Title: "Bob",
		Emails: []store.ContactEmail{{Address: "bob@example.org"}}})
	if err != nil {
		t.Fatal(err)
	}
	first := f.deliver("raw1", mail(t, "own/multipart-alternative.eml"))
	if first.Dup || first.Message.DiscussionID == "" || !first.Message.IsUnread || !first.Message.IsReceived {
		t.Fatalf("first: %+v", first)
	}
	// A reply from someone else threads by In-Reply-To / References.
	reply := f.deliver("raw2", mail(t, "own/attachments.eml"))
	if reply.Message.DiscussionID != first.Message.DiscussionID {
		t.Errorf("reply in discussion %s, want %s", reply.Message.DiscussionID, first.Message.DiscussionID)
	}
	var from store.Participant
	for _, p := range reply.Message.Participants {
		if p.Type == "From" {
			from = p
		}
	}
	if len(from.ContactIDs) != 1 || from.ContactIDs[0] != c.ID || reply.Message.PI.Comportment != 10 {
		t.Errorf("contact not resolved: %+v, pi %+v", from, reply.Message.PI)
	}
	if got := f.notifications(); got != 2 {
		t.Fatalf("notifications: %d, want 2", got)
	}
	// The same mail again (another raw message, same Message-ID): nothing new.
	again := f.deliver("raw3", mail(t, "own/multipart-alternative.eml"))
	if !again.Dup || again.Message.ID != first.Message.ID {
		t.Errorf("second copy: %+v", again)
	}
	// The same order again: nothing new either.
	redo := f.deliver("raw2", mail(t, "own/attachments.eml"))
	if !redo.Dup || redo.Message.ID != reply.Message.ID {
		t.Errorf("redelivery: %+v", redo)
	}
	msgs, _, err := f.st.ListMessages(ctx, f.user.ID, store.MessageFilter{}, store.Page{Limit: 100})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("messages: %d %v", len(msgs), err)
	}
	if got := f.notifications(); got != 2 {
		t.Errorf("notifications after duplicates: %d, want 2", got)
	}
}

func TestDeliverParticipantsHashAndTags(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.deliver("r1", []byte("From: x@example.org\r\nTo: alice@example.test\r\nSubject: one\r\n\r\nhi\r\n"))
	b := f.deliver("r2", []byte("From: X@Example.org\r\nTo: alice@example.test\r\nSubject: two\r\n\r\nhi again\r\n"))
	if a.Dup || b.Dup || a.Message.ID == b.Message.ID {
		t.Fatalf("mails without Message-ID are distinct: %+v %+v", a, b)
	}
	if a.Message.DiscussionID != b.Message.DiscussionID {
		t.Error("same participants, different discussions")
	}
	c := f.deliver("r3", []byte("From: y@example.org\r\nTo: alice@example.test\r\n\r\nother\r\n"))
	if c.Message.DiscussionID == a.Message.DiscussionID {
		t.Error("other participants, same discussion")
	}
	h := f.deliver("r4", mail(t, "own/huge-headers.eml"))
	tags, err := f.st.ListTags(ctx, f.user.ID)
	if err != nil || len(tags) != 3 || len(h.Message.Tags) != 3 {
		t.Errorf("tags %+v %v, message tags %q", tags, err, h.Message.Tags)
	}
	// No participant at all: the receiving identity stands in.
	g := f.deliver("r5", mail(t, "own/garbage.eml"))
	if len(g.Message.Participants) != 1 || g.Message.Participants[0].Address != "alice@example.test" {
		t.Errorf("garbage participants %+v", g.Message.Participants)
	}
}

func TestDeliverOwnContact(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := []byte("From: x@example.org\r\nTo: Alice <alice@example.test>\r\nSubject: own\r\n\r\nhi\r\n")
	for _, tc := range []struct{ rawID, contact string }{{"own1", "alice-card"}, {"own2", ""}} {
		f.user.ContactID = tc.contact
		if _, err := f.st.UpdateUser(ctx, f.user); err != nil {
			t.Fatal(err)
		}
		out := f.deliver(tc.rawID, raw)
		for _, p := range out.Message.Participants {
			want := []string(nil)
			if p.Address == f.ident.Identifier && tc.contact != "" {
				want = []string{tc.contact}
			}
			if !slices.Equal(p.ContactIDs, want) {
				t.Errorf("contact %q: participant %s has contacts %q, want %q", tc.contact, p.Address, p.ContactIDs, want)
			}
		}
	}
}

// Mail a remote identity fetched is notified once a batch by its fetcher:
// its delivery stores no notification.
func TestDeliverRemoteStoresNoNotification(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id, err := f.st.CreateIdentity(ctx, store.Identity{UserID: f.user.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@remote.example"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.q.Deliver(ctx, inbound.Input{UserID: f.user.ID, IdentityID: id.ID, RawID: "b1", RawKey: "raw/b1",
		Raw: []byte("From: x@example.org\r\nTo: alice@remote.example\r\n\r\nhi\r\n")})
	if err != nil || out.Dup {
		t.Fatalf("%+v %v", out, err)
	}
	if got := f.notifications(); got != 0 {
		t.Errorf("%d notifications for a remote identity's message, want 0", got)
	}
	f.deliver("l1", []byte("From: x@example.org\r\nTo: alice@example.test\r\n\r\nhi\r\n"))
	if got := f.notifications(); got != 1 {
		t.Errorf("%d notifications after a local identity's message, want 1", got)
	}
}

// RawKey: the raw message's record is written with the message, once; a
// delivery that fails writes neither.
func TestDeliverRecordsRaw(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	raw := []byte("From: x@example.org\r\nTo: alice@example.test\r\n\r\nhi\r\n")
	in := inbound.Input{UserID: f.user.ID, IdentityID: f.ident.ID, RawID: "fetched", RawKey: "raw/fe/fetched", Raw: raw}
	out, err := f.q.Deliver(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.st.GetRaw(ctx, "fetched")
	if err != nil || got.BlobKey != in.RawKey || got.Size != int64(len(raw)) || out.Message.RawMsgID != "fetched" {
		t.Fatalf("raw record %+v, %v; message raw %q", got, err, out.Message.RawMsgID)
	}
	if again, err := f.q.Deliver(ctx, in); err != nil || !again.Dup || again.Message.ID != out.Message.ID {
		t.Errorf("redelivery = %+v, %v, want the same message as a duplicate", again, err)
	}

	f.ident.Status = store.Inactive
	if _, err := f.st.UpdateIdentity(ctx, f.ident); err != nil {
		t.Fatal(err)
	}
	bad := in
	bad.RawID, bad.RawKey = "refused", "raw/re/refused"
	if _, err := f.q.Deliver(ctx, bad); !errors.Is(err, inbound.ErrNotEmailIdentity) {
		t.Errorf("inactive identity: %v, want ErrNotEmailIdentity", err)
	}
	bad.IdentityID = "no-such-identity"
	if _, err := f.q.Deliver(ctx, bad); !errors.Is(err, inbound.ErrUnknownIdentity) {
		t.Errorf("unknown identity: %v, want ErrUnknownIdentity", err)
	}
	if _, err := f.st.GetRaw(ctx, "refused"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused deliveries recorded their raw message: %v", err)
	}
}

// A duplicate (a copy with more recipients) keeps its discussion; the
// discussion of its own participants is the one later mail between them
// joins.
func TestDeliverDuplicateLeavesTheThreadCacheRight(t *testing.T) {
	f := newFixture(t)
	first := f.deliver("d1", []byte("From: x@example.org\r\nTo: alice@example.test\r\nMessage-ID: <same@example.org>\r\n\r\nhi\r\n"))
	dup := f.deliver("d2", []byte("From: x@example.org\r\nTo: alice@example.test\r\nCc: y@example.org\r\nMessage-ID: <same@example.org>\r\n\r\nhi\r\n"))
	if !dup.Dup || dup.Message.DiscussionID != first.Message.DiscussionID {
		t.Fatalf("second copy: dup %v in discussion %s, want the first's %s", dup.Dup, dup.Message.DiscussionID, first.Message.DiscussionID)
	}
	later := f.deliver("d3", []byte("From: x@example.org\r\nTo: alice@example.test\r\nCc: y@example.org\r\nMessage-ID: <later@example.org>\r\n\r\nhi\r\n"))
	if later.Message.DiscussionID == first.Message.DiscussionID {
		t.Error("mail between x, y and alice joined x and alice's discussion: the thread cache took the duplicate's")
	}
}

// A forged mail stored first under a Message-ID does not suppress the real
// one: both are stored and marked; a copy of the real one is a duplicate.
func TestDeliverReusedMessageID(t *testing.T) {
	f := newFixture(t)
	forged := f.deliver("f1", []byte("From: attacker@evil.example\r\nTo: alice@example.test\r\nSubject: invoice\r\n"+
		"Message-ID: <invoice-2026-12@bank.example>\r\n\r\nPay to the wrong account.\r\n"))
	real := []byte("From: billing@bank.example\r\nTo: alice@example.test\r\nSubject: invoice\r\n" +
		"Message-ID: <invoice-2026-12@bank.example>\r\n\r\nYour invoice.\r\n")
	got := f.deliver("r1", real)
	if got.Dup || got.Message.ID == forged.Message.ID || !got.Message.MessageIDReused {
		t.Fatalf("real mail: dup %v, id %s (forged %s), reused %v; want a new message, marked",
			got.Dup, got.Message.ID, forged.Message.ID, got.Message.MessageIDReused)
	}
	if m, err := f.st.GetMessage(context.Background(), f.user.ID, forged.Message.ID); err != nil || !m.MessageIDReused {
		t.Errorf("forged mail %+v, %v: want it marked", m.MessageIDReused, err)
	}
	relayed := append([]byte("Received: from relay.example by mx.example; Thu, 3 Dec 2026 10:00:00 +0000\r\n"), real...)
	if again := f.deliver("r2", relayed); !again.Dup || again.Message.ID != got.Message.ID {
		t.Errorf("the real mail again, through another relay: dup %v id %s, want %s", again.Dup, again.Message.ID, got.Message.ID)
	}
}
