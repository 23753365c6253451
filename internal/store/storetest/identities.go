package storetest

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// sealed returns plaintext sealed under a fresh key.
func sealed(t *testing.T, plaintext string) secrets.Sealed {
	t.Helper()
	k := make([]byte, secrets.KeySize)
	rand.Read(k)
	ring := try(secrets.NewKeyring(secrets.Key{ID: "test1", Secret: k})).ok(t)
	return try(ring.Seal([]byte(plaintext), nil)).ok(t)
}

func testIdentities(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "alice")
	creds := sealed(t, `{"inpassword":"pw"}`)
	in := store.Identity{UserID: u.ID, Type: store.RemoteIdentity, Protocol: store.ProtocolEmail,
		Identifier: " Alice@Remote.Example ", DisplayName: "Alice", PollInterval: 15 * time.Minute,
		Infos: map[string]string{"inserver": "imap.example.org:993"}, Credentials: creds}
	id := try(s.CreateIdentity(c, in)).ok(t)
	if id.Identifier != "alice@remote.example" || id.Status != store.Active {
		t.Errorf("CreateIdentity = %q %q, want lowercased identifier and active status", id.Identifier, id.Status)
	}
	got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t)
	if got.DisplayName != "Alice" || got.PollInterval != 15*time.Minute || got.Infos["inserver"] != "imap.example.org:993" ||
		got.Type != store.RemoteIdentity || !got.CreatedAt.Equal(id.CreatedAt) {
		t.Errorf("GetIdentity = %+v", got)
	}
	if !bytes.Equal(got.Credentials.Bytes(), creds.Bytes()) || got.Credentials.KeyID() != "test1" {
		t.Errorf("credentials = %v, want %v", got.Credentials, creds)
	}
	local := try(s.CreateIdentity(c, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: "alice@caliopen.local"})).ok(t)
	all := try(s.ListIdentities(c, u.ID, store.IdentityFilter{})).ok(t)
	if len(all) != 2 || all[0].ID != id.ID || all[1].ID != local.ID {
		t.Errorf("ListIdentities = %d identities, want remote then local", len(all))
	}
	locals := try(s.ListIdentities(c, u.ID, store.IdentityFilter{Type: store.LocalIdentity})).ok(t)
	if len(locals) != 1 || locals[0].ID != local.ID {
		t.Errorf("ListIdentities(local) = %+v", locals)
	}

	noErr(t, s.SaveSyncProgress(c, u.ID, id.ID, store.SyncProgress{Cursor: "42", UIDValidity: 7}))
	got.DisplayName, got.Status, got.PollInterval = "Alice R.", store.Inactive, time.Hour
	got.Infos = map[string]string{"inserver": "imap2.example.org:993"}
	got.Credentials, got.Sync = secrets.Sealed{}, store.SyncState{}
	up := try(s.UpdateIdentity(c, got)).ok(t)
	if up.DisplayName != "Alice R." || up.Status != store.Inactive || up.PollInterval != time.Hour ||
		up.Infos["inserver"] != "imap2.example.org:993" {
		t.Errorf("UpdateIdentity = %+v", up)
	}
	if up.Sync.Cursor != "42" || up.Sync.UIDValidity != 7 || up.Credentials.IsZero() {
		t.Errorf("UpdateIdentity touched sync state or credentials: %+v", up)
	}

	noErr(t, s.SetCredentials(c, u.ID, id.ID, secrets.Sealed{}))
	if got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t); !got.Credentials.IsZero() {
		t.Errorf("credentials after SetCredentials(zero) = %v, want none", got.Credentials)
	}
	wantErr(t, "SetCredentials unknown", s.SetCredentials(c, u.ID, "nope", creds), store.ErrNotFound)

	noErr(t, s.DeleteIdentity(c, u.ID, id.ID))
	_, err := s.GetIdentity(c, u.ID, id.ID)
	wantErr(t, "GetIdentity after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteIdentity twice", s.DeleteIdentity(c, u.ID, id.ID), store.ErrNotFound)
}

func testIdentityConflicts(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a, b := user(t, s, "a"), user(t, s, "b")
	ra := remote(t, s, a, "shared@gmail.example")
	_, err := s.CreateIdentity(c, store.Identity{UserID: a.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "SHARED@gmail.example"})
	wantErr(t, "same remote identifier twice for one user", err, store.ErrConflict)
	rb := remote(t, s, b, "shared@gmail.example") // two users may poll the same account
	again := try(s.CreateIdentity(c, store.Identity{ID: ra.ID, UserID: a.ID, Type: store.RemoteIdentity,
		Protocol: store.ProtocolEmail, Identifier: "shared@gmail.example"})).ok(t)
	if again.ID != ra.ID || !again.CreatedAt.Equal(ra.CreatedAt) {
		t.Errorf("repeated CreateIdentity = %+v, want the stored one", again)
	}
	localA := store.Identity{UserID: a.ID, Type: store.LocalIdentity, Protocol: store.ProtocolEmail, Identifier: "box@caliopen.local"}
	try(s.CreateIdentity(c, localA)).ok(t)
	localB := localA
	localB.UserID = b.ID
	_, err = s.CreateIdentity(c, localB)
	wantErr(t, "local address taken by another user", err, store.ErrConflict)

	found := try(s.LookupIdentities(c, store.ProtocolEmail, "Shared@Gmail.Example")).ok(t)
	if len(found) != 2 || found[0].ID != ra.ID || found[1].ID != rb.ID {
		t.Errorf("LookupIdentities = %d identities, want both users' in creation order", len(found))
	}
	if found := try(s.LookupIdentities(c, store.ProtocolTwitter, "shared@gmail.example")).ok(t); len(found) != 0 {
		t.Errorf("LookupIdentities with another protocol = %+v, want none", found)
	}
}

func testIdentityValidation(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "v")
	for name, id := range map[string]store.Identity{
		"no user":        {Type: store.LocalIdentity, Protocol: "email", Identifier: "x@y"},
		"bad type":       {UserID: u.ID, Type: "weird", Protocol: "email", Identifier: "x@y"},
		"no protocol":    {UserID: u.ID, Type: store.LocalIdentity, Identifier: "x@y"},
		"no identifier":  {UserID: u.ID, Type: store.LocalIdentity, Protocol: "email"},
		"bad status":     {UserID: u.ID, Type: store.LocalIdentity, Protocol: "email", Identifier: "x@y", Status: "deleted"},
		"negative poll":  {UserID: u.ID, Type: store.RemoteIdentity, Protocol: "email", Identifier: "x@y", PollInterval: -1},
		"unknown userID": {UserID: "no-such-user", Type: store.LocalIdentity, Protocol: "email", Identifier: "x@y"},
	} {
		_, err := s.CreateIdentity(c, id)
		want := store.ErrInvalid
		if name == "unknown userID" {
			want = store.ErrNotFound
		}
		wantErr(t, "CreateIdentity "+name, err, want)
	}
	wantErr(t, "SetIdentityStatus bad", s.SetIdentityStatus(c, u.ID, "x", "gone"), store.ErrInvalid)
}

func testSyncState(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "s")
	id := remote(t, s, u, "s@remote.example")
	st := try(s.RecordSyncError(c, u.ID, id.ID, "imap connection failed : timeout", at(0))).ok(t)
	if st.ErrorCount != 1 || !st.FirstErrorAt.Equal(at(0)) || !st.LastErrorAt.Equal(at(0)) {
		t.Errorf("after one error: %+v", st)
	}
	st = try(s.RecordSyncError(c, u.ID, id.ID, "imap connection failed : auth", at(73*time.Hour))).ok(t)
	if st.ErrorCount != 2 || !st.FirstErrorAt.Equal(at(0)) || !st.LastErrorAt.Equal(at(73*time.Hour)) ||
		st.LastError != "imap connection failed : auth" {
		t.Errorf("after two errors: %+v", st)
	}
	noErr(t, s.SetIdentityStatus(c, u.ID, id.ID, store.Inactive))
	if got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t); got.Status != store.Inactive || got.Sync.ErrorCount != 2 {
		t.Errorf("after SetIdentityStatus: %+v", got)
	}
	noErr(t, s.SaveSyncProgress(c, u.ID, id.ID, store.SyncProgress{Cursor: "1234", UIDValidity: 4294967295, At: at(74 * time.Hour)}))
	got := try(s.GetIdentity(c, u.ID, id.ID)).ok(t).Sync
	want := store.SyncState{Cursor: "1234", UIDValidity: 4294967295, LastSync: at(74 * time.Hour)}
	if got != want {
		t.Errorf("sync state after progress = %+v, want %+v", got, want)
	}
	_, err := s.RecordSyncError(c, u.ID, "nope", "x", at(0))
	wantErr(t, "RecordSyncError unknown", err, store.ErrNotFound)
	wantErr(t, "SaveSyncProgress unknown", s.SaveSyncProgress(c, u.ID, "nope", store.SyncProgress{}), store.ErrNotFound)
}

func testSyncLease(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "l")
	id := remote(t, s, u, "l@remote.example")
	if !try(s.AcquireSync(c, u.ID, id.ID, at(0), time.Hour)).ok(t) {
		t.Fatal("first AcquireSync = false")
	}
	if try(s.AcquireSync(c, u.ID, id.ID, at(30*time.Minute), time.Hour)).ok(t) {
		t.Error("AcquireSync during a running lease = true")
	}
	if !try(s.AcquireSync(c, u.ID, id.ID, at(61*time.Minute), time.Hour)).ok(t) {
		t.Error("AcquireSync after the lease ran out = false")
	}
	noErr(t, s.ReleaseSync(c, u.ID, id.ID))
	if !try(s.AcquireSync(c, u.ID, id.ID, at(62*time.Minute), time.Hour)).ok(t) {
		t.Error("AcquireSync after ReleaseSync = false")
	}
	_, err := s.AcquireSync(c, u.ID, "nope", at(0), time.Hour)
	wantErr(t, "AcquireSync unknown", err, store.ErrNotFound)
}

func testSchedules(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a, b := user(t, s, "a"), user(t, s, "b")
	ia, ib := remote(t, s, a, "a@r.example"), remote(t, s, b, "b@r.example")
	off := remote(t, s, a, "off@r.example")
	local := try(s.CreateIdentity(c, store.Identity{UserID: a.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: "a@caliopen.local"})).ok(t)
	noErr(t, s.SetNextRun(c, a.ID, ia.ID, at(10*time.Minute)))
	noErr(t, s.SetNextRun(c, b.ID, ib.ID, at(5*time.Minute)))
	noErr(t, s.SetNextRun(c, a.ID, off.ID, at(0)))
	noErr(t, s.SetIdentityStatus(c, a.ID, off.ID, store.Inactive))
	noErr(t, s.SetNextRun(c, a.ID, local.ID, at(0)))
	due := try(s.DueSchedules(c, at(10*time.Minute), 10)).ok(t)
	if len(due) != 2 || due[0].IdentityID != ib.ID || due[1].IdentityID != ia.ID {
		t.Fatalf("DueSchedules = %+v, want b's then a's remote active identities", due)
	}
	if due[1].UserID != a.ID || due[1].Protocol != store.ProtocolEmail || due[1].PollInterval != 15*time.Minute ||
		!due[1].NextRun.Equal(at(10*time.Minute)) {
		t.Errorf("Due = %+v", due[1])
	}
	if due := try(s.DueSchedules(c, at(7*time.Minute), 10)).ok(t); len(due) != 1 {
		t.Errorf("DueSchedules before a's run = %d, want 1", len(due))
	}
	noErr(t, s.SetNextRun(c, b.ID, ib.ID, at(time.Hour))) // upsert moves it
	if due := try(s.DueSchedules(c, at(10*time.Minute), 1)).ok(t); len(due) != 1 || due[0].IdentityID != ia.ID {
		t.Errorf("DueSchedules after moving b = %+v", due)
	}
	wantErr(t, "SetNextRun on another user's identity", s.SetNextRun(c, b.ID, ia.ID, at(0)), store.ErrNotFound)
	wantErr(t, "SetNextRun unknown identity", s.SetNextRun(c, a.ID, "nope", at(0)), store.ErrNotFound)
	if due := try(s.DueSchedules(c, at(10*time.Minute), 10)).ok(t); len(due) != 1 || !due[0].NextRun.Equal(at(10*time.Minute)) {
		t.Errorf("a's schedule changed by b's SetNextRun: %+v", due)
	}
}
