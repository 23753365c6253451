package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// hash returns a well-formed token hash made of the digit d.
func hash(d string) string { return strings.Repeat(d, 64) }

func testSessions(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "erin")
	now := time.Now().UTC()
	ses := try(s.CreateSession(c, store.Session{TokenHash: hash("a"), UserID: u.ID, ExpiresAt: now.Add(time.Hour)})).ok(t)
	if ses.CreatedAt.IsZero() || ses.UserID != u.ID {
		t.Fatalf("CreateSession = %+v", ses)
	}
	got := try(s.GetSession(c, hash("a"), time.Time{})).ok(t)
	if got != ses {
		t.Errorf("GetSession = %+v, want %+v", got, ses)
	}
	again := try(s.CreateSession(c, store.Session{TokenHash: hash("a"), UserID: u.ID, ExpiresAt: now.Add(2 * time.Hour)})).ok(t)
	if again != ses {
		t.Errorf("repeated CreateSession = %+v, want the stored %+v", again, ses)
	}
	other := user(t, s, "frank")
	_, err := s.CreateSession(c, store.Session{TokenHash: hash("a"), UserID: other.ID, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "same hash for another user", err, store.ErrConflict)

	if got := try(s.SessionUser(c, hash("a"), time.Time{})).ok(t); got != try(s.GetUser(c, u.ID)).ok(t) {
		t.Errorf("SessionUser = %+v, want %+v", got, u)
	}
	// Both reads refuse an expired, an unknown and a malformed hash.
	reads := map[string]func(hash string, now time.Time) error{
		"GetSession":  func(h string, now time.Time) error { _, err := s.GetSession(c, h, now); return err },
		"SessionUser": func(h string, now time.Time) error { _, err := s.SessionUser(c, h, now); return err },
	}
	for name, read := range reads {
		wantErr(t, name+" at expiry", read(hash("a"), ses.ExpiresAt), store.ErrNotFound)
		wantErr(t, name+" unknown", read(hash("b"), time.Time{}), store.ErrNotFound)
		wantErr(t, name+" malformed", read("not-a-hash", time.Time{}), store.ErrNotFound)
	}

	noErr(t, s.DeleteSession(c, hash("a")))
	_, err = s.GetSession(c, hash("a"), time.Time{})
	wantErr(t, "GetSession after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteSession twice", s.DeleteSession(c, hash("a")), store.ErrNotFound)

	for name, bad := range map[string]store.Session{
		"raw token":  {TokenHash: "dG9rZW4tbm90LWEtaGFzaC1hdC1hbGwtMzItYnl0ZXMtbG9uZw", UserID: u.ID, ExpiresAt: now},
		"upper hex":  {TokenHash: strings.Repeat("A", 64), UserID: u.ID, ExpiresAt: now},
		"no user":    {TokenHash: hash("c"), ExpiresAt: now},
		"no expiry":  {TokenHash: hash("c"), UserID: u.ID},
		"short hash": {TokenHash: hash("c")[:63], UserID: u.ID, ExpiresAt: now},
	} {
		_, err := s.CreateSession(c, bad)
		wantErr(t, "CreateSession with "+name, err, store.ErrInvalid)
	}
	_, err = s.CreateSession(c, store.Session{TokenHash: hash("d"), UserID: "nobody", ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateSession for an unknown user", err, store.ErrNotFound)
}

// testSessionCleanup checks that a new session removes the user's expired
// ones (and only those), and that deleting a user ends its sessions.
func testSessionCleanup(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u, v := user(t, s, "gina"), user(t, s, "hugo")
	past := time.Now().Add(-time.Minute)
	try(s.CreateSession(c, store.Session{TokenHash: hash("1"), UserID: u.ID, ExpiresAt: past})).ok(t)
	try(s.CreateSession(c, store.Session{TokenHash: hash("2"), UserID: v.ID, ExpiresAt: past})).ok(t)
	try(s.CreateSession(c, store.Session{TokenHash: hash("3"), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)})).ok(t)
	// An expired session still exists until cleaned: it reads as found at an earlier instant.
	try(s.GetSession(c, hash("2"), past.Add(-time.Second))).ok(t)
	_, err := s.GetSession(c, hash("1"), past.Add(-time.Second))
	wantErr(t, "u's expired session after u logged in again", err, store.ErrNotFound)
	try(s.GetSession(c, hash("3"), time.Time{})).ok(t)

	noErr(t, s.DeleteUser(c, u.ID))
	_, err = s.GetSession(c, hash("3"), time.Time{})
	wantErr(t, "session of a deleted user", err, store.ErrNotFound)
}
