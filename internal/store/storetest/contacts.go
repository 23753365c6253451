package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/caliopen/functions/internal/store"
)

func testContacts(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "c")
	in := store.Contact{UserID: u.ID, Title: "Zoé", GivenName: "Zoé", FamilyName: "Z",
		Emails:     []store.ContactEmail{{Address: "Zoe@Example.org", Type: "work", IsPrimary: true}},
		Identities: []store.SocialIdentity{{Type: "twitter", Name: "ZoeZ", Infos: map[string]string{"id": "42"}}},
		Phones:     []store.Phone{{Number: "+33 1 23 45 67 89", Type: "mobile"}},
		Tags:       []string{"friends"}, PI: store.PrivacyIndex{Technic: 5, Version: 1}}
	ct := try(s.CreateContact(c, in)).ok(t)
	got := try(s.GetContact(c, u.ID, ct.ID)).ok(t)
	if !reflect.DeepEqual(got, ct) {
		t.Errorf("GetContact:\n got %+v\nwant %+v", got, ct)
	}
	for kind, value := range map[string]string{store.LookupEmail: "zoe@example.ORG", "twitter": "zoez", store.LookupPhone: "+33 1 23 45 67 89"} {
		if found := try(s.FindContacts(c, u.ID, kind, value)).ok(t); len(found) != 1 || found[0].ID != ct.ID {
			t.Errorf("FindContacts(%s, %s) = %d contacts, want Zoé", kind, value, len(found))
		}
	}
	got.Emails = []store.ContactEmail{{Address: "zoe@new.example"}}
	got.Title = "Zoé Z."
	up := try(s.UpdateContact(c, got)).ok(t)
	if up.Title != "Zoé Z." || len(up.Emails) != 1 || !up.CreatedAt.Equal(ct.CreatedAt) {
		t.Errorf("UpdateContact = %+v", up)
	}
	if found := try(s.FindContacts(c, u.ID, store.LookupEmail, "zoe@example.org")).ok(t); len(found) != 0 {
		t.Error("FindContacts still finds the old address after an update")
	}
	if found := try(s.FindContacts(c, u.ID, store.LookupEmail, "zoe@new.example")).ok(t); len(found) != 1 {
		t.Error("FindContacts does not find the new address")
	}
	if again := try(s.CreateContact(c, store.Contact{ID: ct.ID, UserID: u.ID, Title: "other"})).ok(t); again.Title != "Zoé Z." {
		t.Errorf("repeated CreateContact = %+v, want the stored contact", again)
	}

	for _, title := range []string{"bob", "Alice", "carl", "", "dan"} {
		ctc := store.Contact{UserID: u.ID, Title: title}
		if title == "" {
			ctc.Emails = []store.ContactEmail{{Address: "anon@x.example"}}
		}
		try(s.CreateContact(c, ctc)).ok(t)
	}
	contacts, _ := walk(t, 2, func(p store.Page) ([]store.Contact, string, error) { return s.ListContacts(c, u.ID, p) }, nil)
	var names []string
	for _, x := range contacts {
		names = append(names, x.Title)
	}
	if fmt.Sprint(names) != "[Alice  bob carl dan Zoé Z.]" {
		t.Errorf("ListContacts = %q, want by lowercased title, then names, then address", names)
	}

	self := try(s.CreateContact(c, store.Contact{UserID: u.ID, Title: "me"})).ok(t)
	u.ContactID = self.ID
	try(s.UpdateUser(c, u)).ok(t)
	wantErr(t, "DeleteContact of the user's own contact", s.DeleteContact(c, u.ID, self.ID), store.ErrConflict)
	noErr(t, s.DeleteContact(c, u.ID, ct.ID))
	_, err := s.GetContact(c, u.ID, ct.ID)
	wantErr(t, "GetContact after delete", err, store.ErrNotFound)
	if found := try(s.FindContacts(c, u.ID, store.LookupEmail, "zoe@new.example")).ok(t); len(found) != 0 {
		t.Error("FindContacts finds a deleted contact")
	}
	_, err = s.UpdateContact(c, got)
	wantErr(t, "UpdateContact after delete", err, store.ErrNotFound)
}

func testPublicKeys(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "k")
	ct := try(s.CreateContact(c, store.Contact{UserID: u.ID, Title: "Zoé"})).ok(t)
	k := try(s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, ContactID: ct.ID, Label: "v1",
		Fingerprint: "ab12 cd34", Armored: "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...", Algorithm: "ed25519",
		Size: 256, Emails: []string{"zoe@example.org"}, ExpiresAt: at(0)})).ok(t)
	if k.Fingerprint != "AB12CD34" || k.ContactID != ct.ID || !k.ExpiresAt.Equal(at(0)) || len(k.Emails) != 1 ||
		k.Source != store.KeySourceAPI {
		t.Errorf("UpsertPublicKey = %+v", k)
	}
	k2 := try(s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, ContactID: ct.ID, Label: "v2",
		Fingerprint: "AB12CD34", Armored: "new armor", Source: store.KeySourceDANE, Authenticated: true})).ok(t)
	if k2.ID != k.ID || k2.Label != "v2" || k2.Armored != "new armor" || !k2.CreatedAt.Equal(k.CreatedAt) || !k2.ExpiresAt.IsZero() ||
		k2.Source != store.KeySourceDANE || !k2.Authenticated {
		t.Errorf("second UpsertPublicKey = %+v, want the same key updated", k2)
	}
	own := try(s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, Fingerprint: "EF", Armored: "mine"})).ok(t)
	if keys := try(s.ListPublicKeys(c, u.ID, ct.ID)).ok(t); len(keys) != 1 || keys[0].ID != k.ID {
		t.Errorf("ListPublicKeys(contact) = %+v", keys)
	}
	if keys := try(s.ListPublicKeys(c, u.ID, "")).ok(t); len(keys) != 2 || keys[1].ID != own.ID {
		t.Errorf("ListPublicKeys(all) = %d keys, want 2", len(keys))
	}
	if fprs := try(s.PublicKeyFingerprints(c, u.ID)).ok(t); fmt.Sprint(fprs) != "[AB12CD34 EF]" {
		t.Errorf("PublicKeyFingerprints = %v", fprs)
	}
	_, err := s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, ContactID: "nope", Fingerprint: "01", Armored: "x"})
	wantErr(t, "UpsertPublicKey for an unknown contact", err, store.ErrNotFound)
	_, err = s.UpsertPublicKey(c, store.PublicKey{UserID: u.ID, Fingerprint: "01"})
	wantErr(t, "UpsertPublicKey without armor", err, store.ErrInvalid)
	noErr(t, s.DeletePublicKey(c, u.ID, own.ID))
	wantErr(t, "DeletePublicKey twice", s.DeletePublicKey(c, u.ID, own.ID), store.ErrNotFound)
	noErr(t, s.DeleteContact(c, u.ID, ct.ID))
	_, err = s.GetPublicKey(c, u.ID, k.ID)
	wantErr(t, "key of a deleted contact", err, store.ErrNotFound)
}

func testTags(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "t")
	tg := try(s.UpsertTag(c, store.Tag{UserID: u.ID, Name: "work", Label: "Work", Type: "user", Importance: 1})).ok(t)
	again := try(s.UpsertTag(c, store.Tag{UserID: u.ID, Name: "work", Label: "Job", Type: "user", Importance: 2})).ok(t)
	if again.Label != "Job" || again.Importance != 2 || !again.CreatedAt.Equal(tg.CreatedAt) {
		t.Errorf("second UpsertTag = %+v, want label and importance updated, creation kept", again)
	}
	try(s.UpsertTag(c, store.Tag{UserID: u.ID, Name: "\\Seen", Type: "imported"})).ok(t)
	tags := try(s.ListTags(c, u.ID)).ok(t)
	if len(tags) != 2 || tags[0].Name != "\\Seen" || tags[1].Name != "work" {
		t.Errorf("ListTags = %+v", tags)
	}
	noErr(t, s.DeleteTag(c, u.ID, "work"))
	wantErr(t, "DeleteTag twice", s.DeleteTag(c, u.ID, "work"), store.ErrNotFound)
	_, err := s.UpsertTag(c, store.Tag{UserID: u.ID})
	wantErr(t, "UpsertTag without name", err, store.ErrInvalid)
	_, err = s.UpsertTag(c, store.Tag{UserID: "nope", Name: "x"})
	wantErr(t, "UpsertTag for an unknown user", err, store.ErrNotFound)
}
