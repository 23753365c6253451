package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/store"
)

// testDelivery: an inbound delivery reads the receiving identity and the
// user's own contact, sees its own writes, and commits them together or
// not at all.
func testDelivery(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := try(s.CreateUser(c, store.User{Name: "target", ContactID: "own-contact"})).ok(t)
	id := remote(t, s, u, "Target@Remote.Example")
	want := store.Identity{ID: id.ID, UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "target@remote.example", Status: store.Active}
	raw := store.RawMessage{ID: "delivery-raw", BlobKey: "raw/de/delivery-raw", Size: 42}
	var stored store.Message
	err := s.Deliver(c, func(d store.Delivery) error {
		gi, contact, err := d.Target(c, u.ID, id.ID)
		if err != nil {
			return err
		}
		if gi.ID != want.ID || gi.UserID != want.UserID || gi.Type != want.Type || gi.Protocol != want.Protocol ||
			gi.Identifier != want.Identifier || gi.Status != want.Status {
			t.Errorf("identity = %+v, want %+v", gi, want)
		}
		if gi.Infos != nil || !gi.Credentials.IsZero() {
			t.Errorf("the delivery read the identity's settings or credentials: %+v", gi)
		}
		if contact != "own-contact" {
			t.Errorf("contact = %q, want own-contact", contact)
		}
		if err := d.RecordRaw(c, raw); err != nil {
			return err
		}
		// What the transaction wrote, it reads.
		disc, err := d.DiscussionID(c, u.ID, "delivery-thread", "hi")
		if err != nil {
			return err
		}
		if again, err := d.DiscussionID(c, u.ID, "delivery-thread", "other"); err != nil || again != disc {
			t.Errorf("DiscussionID twice = %q, %v, want %q", again, err, disc)
		}
		if _, err := d.UpsertTag(c, store.Tag{UserID: u.ID, Name: "imported-flag", Type: "imported"}); err != nil {
			return err
		}
		if tags, err := d.ListTags(c, u.ID); err != nil || len(tags) != 1 || tags[0].Name != "imported-flag" {
			t.Errorf("ListTags in the delivery = %+v, %v, want its tag", tags, err)
		}
		stored, _, err = d.PutInbound(c, store.Message{UserID: u.ID, IdentityIDs: []string{id.ID}, DiscussionID: disc,
			RawMsgID: raw.ID, External: store.ExternalRefs{MessageID: "delivery@x.example"}}, nil)
		if err != nil {
			return err
		}
		if found, err := d.MessagesByExternalID(c, u.ID, []string{"delivery@x.example"}); err != nil || len(found) != 1 {
			t.Errorf("MessagesByExternalID in the delivery = %d messages, %v, want 1", len(found), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := try(s.GetRaw(c, raw.ID)).ok(t)
	if got.BlobKey != raw.BlobKey || got.Size != 42 || got.Delivered || got.CreatedAt.IsZero() {
		t.Errorf("recorded raw = %+v, want %+v", got, raw)
	}
	if m := try(s.GetMessage(c, u.ID, stored.ID)).ok(t); m.RawMsgID != raw.ID {
		t.Errorf("stored message refers to raw %q, want %q", m.RawMsgID, raw.ID)
	}

	// A recorded raw message is kept as it is.
	err = s.Deliver(c, func(d store.Delivery) error {
		return d.RecordRaw(c, store.RawMessage{ID: raw.ID, BlobKey: "raw/other", Size: 1})
	})
	if err != nil || try(s.GetRaw(c, raw.ID)).ok(t).BlobKey != raw.BlobKey {
		t.Errorf("second RecordRaw: %v, or the record changed", err)
	}

	// A delivery that fails leaves nothing, and its error comes back as is.
	boom := errors.New("boom")
	err = s.Deliver(c, func(d store.Delivery) error {
		if err := d.RecordRaw(c, store.RawMessage{ID: "failed-raw", BlobKey: "raw/fa/failed-raw", Size: 1}); err != nil {
			return err
		}
		if _, _, err := d.PutInbound(c, store.Message{UserID: u.ID, RawMsgID: "failed-raw"}, nil); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || strings.Contains(err.Error(), "deliver inbound message") {
		t.Errorf("failed delivery returned %v, want its own error", err)
	}
	if _, err := s.GetRaw(c, "failed-raw"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed delivery's raw record: %v, want ErrNotFound", err)
	}

	other := user(t, s, "target-other")
	for _, q := range [][2]string{{other.ID, id.ID}, {u.ID, "no-such-identity"}} {
		err := s.Deliver(c, func(d store.Delivery) error {
			_, _, err := d.Target(c, q[0], q[1])
			return err
		})
		wantErr(t, "Target("+q[0]+", "+q[1]+")", err, store.ErrNotFound)
	}
	err = s.Deliver(c, func(d store.Delivery) error { return d.RecordRaw(c, store.RawMessage{ID: "no-key"}) })
	wantErr(t, "RecordRaw without a blob key", err, store.ErrInvalid)
}
