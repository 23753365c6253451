package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

func testUsers(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := try(s.CreateUser(c, store.User{Name: "alice", PasswordHash: "h1", IsAdmin: true,
		RecoveryEmail: "alice@example.org", GivenName: "Alice"})).ok(t)
	if u.ID == "" || u.CreatedAt.IsZero() {
		t.Fatalf("CreateUser = %+v, want an id and a creation date", u)
	}
	got := try(s.GetUser(c, u.ID)).ok(t)
	if got != u {
		t.Errorf("GetUser = %+v, want %+v", got, u)
	}
	if byName := try(s.GetUserByName(c, "alice")).ok(t); byName.ID != u.ID {
		t.Errorf("GetUserByName = %s, want %s", byName.ID, u.ID)
	}
	u.Name, u.IsAdmin, u.RecoveryEmail, u.FamilyName, u.PasswordHash = "alice2", false, "a2@example.org", "Liddell", "ignored"
	up := try(s.UpdateUser(c, u)).ok(t)
	if up.Name != "alice2" || up.IsAdmin || up.RecoveryEmail != "a2@example.org" || up.FamilyName != "Liddell" {
		t.Errorf("UpdateUser = %+v", up)
	}
	if up.PasswordHash != "h1" {
		t.Errorf("UpdateUser changed the password hash to %q", up.PasswordHash)
	}
	noErr(t, s.SetPasswordHash(c, u.ID, "h2"))
	if got := try(s.GetUser(c, u.ID)).ok(t); got.PasswordHash != "h2" {
		t.Errorf("after SetPasswordHash, hash = %q, want h2", got.PasswordHash)
	}
	noErr(t, s.DeleteUser(c, u.ID))
	_, err := s.GetUser(c, u.ID)
	wantErr(t, "GetUser after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteUser twice", s.DeleteUser(c, u.ID), store.ErrNotFound)
	_, err = s.GetUserByName(c, "alice2")
	wantErr(t, "GetUserByName after delete", err, store.ErrNotFound)
	wantErr(t, "SetPasswordHash unknown", s.SetPasswordHash(c, "nope", "x"), store.ErrNotFound)
	_, err = s.UpdateUser(c, store.User{ID: "nope", Name: "x"})
	wantErr(t, "UpdateUser unknown", err, store.ErrNotFound)
	_, err = s.CreateUser(c, store.User{})
	wantErr(t, "CreateUser without name", err, store.ErrInvalid)
}

func testUserConflicts(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "bob")
	_, err := s.CreateUser(c, store.User{Name: "bob"})
	wantErr(t, "second user named bob", err, store.ErrConflict)
	again := try(s.CreateUser(c, store.User{ID: u.ID, Name: "bob"})).ok(t)
	if again.ID != u.ID || !again.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("repeated CreateUser = %+v, want the stored %+v", again, u)
	}
	_, err = s.CreateUser(c, store.User{ID: u.ID, Name: "robert"})
	wantErr(t, "CreateUser reusing an id", err, store.ErrConflict)
	other := user(t, s, "carol")
	other.Name = "bob"
	_, err = s.UpdateUser(c, other)
	wantErr(t, "rename onto a taken name", err, store.ErrConflict)
}

func testUserPagination(t *testing.T, s *store.SQL) {
	c := ctx(t)
	for i := range 7 {
		user(t, s, fmt.Sprintf("user%02d", 6-i)) // created in reverse order
	}
	users, pages := walk(t, 3, func(p store.Page) ([]store.User, string, error) { return s.ListUsers(c, p) },
		func(n int) {
			if n == 1 {
				// Sorted before the cursor: later pages neither show it nor shift.
				user(t, s, "user00a")
			}
		})
	var got []string
	for _, u := range users {
		got = append(got, u.Name)
	}
	want := "[user00 user01 user02 user03 user04 user05 user06]"
	if fmt.Sprint(got) != want || pages != 3 {
		t.Errorf("paged names = %v in %d pages, want %s in 3", got, pages, want)
	}
	_, _, err := s.ListUsers(c, store.Page{After: "!!not-a-cursor"})
	wantErr(t, "ListUsers with a bad cursor", err, store.ErrInvalid)
}

func testDeleteUserCascades(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "dave")
	id := remote(t, s, u, "dave@remote.example")
	noErr(t, s.SetNextRun(c, u.ID, id.ID, at(0)))
	d := try(s.EnsureDiscussion(c, u.ID, "k1", "hello")).ok(t)
	m, _ := put(s.PutInbound(c, store.Message{UserID: u.ID, DiscussionID: d.ID,
		External: store.ExternalRefs{MessageID: "m1@x"}})).ok(t)
	ct := try(s.CreateContact(c, store.Contact{UserID: u.ID, Title: "Eve"})).ok(t)
	try(s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, ContactID: ct.ID, Fingerprint: "AB", Armored: "k"})).ok(t)
	try(s.UpsertTag(c, store.Tag{UserID: u.ID, Name: "work"})).ok(t)
	try(s.CreateNotification(c, store.Notification{UserID: u.ID, Body: "{}"})).ok(t)
	noErr(t, s.DeleteUser(c, u.ID))
	_, err := s.GetIdentity(c, u.ID, id.ID)
	wantErr(t, "identity of a deleted user", err, store.ErrNotFound)
	_, err = s.GetMessage(c, u.ID, m.ID)
	wantErr(t, "message of a deleted user", err, store.ErrNotFound)
	_, err = s.GetContact(c, u.ID, ct.ID)
	wantErr(t, "contact of a deleted user", err, store.ErrNotFound)
	if due := try(s.DueSchedules(c, at(time.Hour), 10)).ok(t); len(due) != 0 {
		t.Errorf("schedule of a deleted user is still due: %+v", due)
	}
	if lookup := try(s.LookupIdentities(c, store.ProtocolEmail, "dave@remote.example")).ok(t); len(lookup) != 0 {
		t.Errorf("identity of a deleted user is still found: %+v", lookup)
	}
}
