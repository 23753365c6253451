package storetest

import (
	"errors"
	"testing"

	"github.com/caliopen/functions/internal/store"
)

// testInboundTarget: one read gives the identity, the user's own contact
// and the raw record; another user's identity is not found.
func testInboundTarget(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := try(s.CreateUser(c, store.User{Name: "target", ContactID: "own-contact"})).ok(t)
	id := remote(t, s, u, "Target@Remote.Example")
	raw := try(s.PutRaw(c, store.RawMessage{ID: "target-raw", BlobKey: "raw/ta/target-raw", Size: 42})).ok(t)

	got := try(s.GetInboundTarget(c, u.ID, id.ID, raw.ID)).ok(t)
	want := store.Identity{ID: id.ID, UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: "target@remote.example", Status: store.Active}
	gi := got.Identity
	if gi.ID != want.ID || gi.UserID != want.UserID || gi.Type != want.Type || gi.Protocol != want.Protocol ||
		gi.Identifier != want.Identifier || gi.Status != want.Status {
		t.Errorf("identity = %+v, want %+v", gi, want)
	}
	if gi.Infos != nil || !gi.Credentials.IsZero() {
		t.Errorf("the target read the identity's settings or credentials: %+v", gi)
	}
	if got.ContactID != "own-contact" {
		t.Errorf("contact = %q, want own-contact", got.ContactID)
	}
	if got.Raw.ID != raw.ID || got.Raw.BlobKey != raw.BlobKey || got.Raw.Size != 42 || !got.Raw.CreatedAt.Equal(raw.CreatedAt) {
		t.Errorf("raw = %+v, want %+v", got.Raw, raw)
	}

	missing := try(s.GetInboundTarget(c, u.ID, id.ID, "not-recorded")).ok(t)
	if missing.Raw != (store.RawMessage{}) || missing.Identity.ID != id.ID {
		t.Errorf("unrecorded raw: %+v, want a zero raw and the identity", missing)
	}
	other := user(t, s, "target-other")
	for _, q := range [][2]string{{other.ID, id.ID}, {u.ID, "no-such-identity"}} {
		if _, err := s.GetInboundTarget(c, q[0], q[1], raw.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetInboundTarget(%s, %s) = %v, want ErrNotFound", q[0], q[1], err)
		}
	}
}
