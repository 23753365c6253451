package storetest

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// testIdempotencyKeys: a key is claimed once; its answer is kept until it
// expires; a running request's key is claimed again after its lock, with
// the same resource id; keys are per user.
func testIdempotencyKeys(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "ivy")
	now := time.Now()
	k := store.IdempotencyKey{UserID: u.ID, Key: "k1", Fingerprint: "fp1", LockedUntil: now.Add(time.Minute),
		ExpiresAt: now.Add(time.Hour)}
	rec, claimed, err := s.ClaimIdempotencyKey(c, k)
	if err != nil || !claimed || rec.ResourceID == "" || rec.Status != 0 {
		t.Fatalf("first claim = %+v, %v, %v; want claimed with a resource id", rec, claimed, err)
	}
	again, claimed, err := s.ClaimIdempotencyKey(c, k)
	if err != nil || claimed || again.Status != 0 || again.ResourceID != rec.ResourceID {
		t.Errorf("claim while running = %+v, %v, %v; want the running record", again, claimed, err)
	}
	rec.Status, rec.Header, rec.Body = 201, map[string]string{"Content-Type": "application/json"}, []byte(`{"id":1}`)
	noErr(t, s.CompleteIdempotencyKey(c, rec))
	done, claimed, err := s.ClaimIdempotencyKey(c, k)
	if err != nil || claimed || done.Status != 201 || string(done.Body) != `{"id":1}` ||
		done.Header["Content-Type"] != "application/json" || done.Fingerprint != "fp1" {
		t.Errorf("claim after completion = %+v, %v, %v; want the kept answer", done, claimed, err)
	}
	wantErr(t, "completing twice", s.CompleteIdempotencyKey(c, rec), store.ErrNotFound)
	other := user(t, s, "jay")
	ok := k
	ok.UserID = other.ID
	if _, claimed, err := s.ClaimIdempotencyKey(c, ok); err != nil || !claimed {
		t.Errorf("the same key for another user: claimed %v, %v; want claimed", claimed, err)
	}

	// A request that died: its lock ends and a repeat claims it again.
	dead := store.IdempotencyKey{UserID: u.ID, Key: "k2", Fingerprint: "fp2", LockedUntil: now.Add(time.Millisecond),
		ExpiresAt: now.Add(time.Hour)}
	first, _, err := s.ClaimIdempotencyKey(c, dead)
	noErr(t, err)
	time.Sleep(5 * time.Millisecond)
	dead.LockedUntil = time.Now().Add(time.Minute)
	retaken, claimed, err := s.ClaimIdempotencyKey(c, dead)
	if err != nil || !claimed || retaken.ResourceID != first.ResourceID {
		t.Errorf("claim after the lock = %+v, %v, %v; want claimed with resource id %s", retaken, claimed, err, first.ResourceID)
	}
	noErr(t, s.ReleaseIdempotencyKey(c, u.ID, "k2"))
	if _, claimed, err := s.ClaimIdempotencyKey(c, dead); err != nil || !claimed {
		t.Errorf("claim after release: %v, %v; want claimed", claimed, err)
	}

	// An expired answer is forgotten.
	exp := store.IdempotencyKey{UserID: u.ID, Key: "k3", Fingerprint: "fp3", LockedUntil: now.Add(time.Minute),
		ExpiresAt: time.Now().Add(time.Millisecond)}
	rec3, _, err := s.ClaimIdempotencyKey(c, exp)
	noErr(t, err)
	rec3.Status = 200
	noErr(t, s.CompleteIdempotencyKey(c, rec3))
	time.Sleep(5 * time.Millisecond)
	exp.Fingerprint, exp.ExpiresAt = "fp3b", time.Now().Add(time.Hour)
	if got, claimed, err := s.ClaimIdempotencyKey(c, exp); err != nil || !claimed || got.Fingerprint != "fp3b" {
		t.Errorf("claim after expiry = %+v, %v, %v; want a new claim", got, claimed, err)
	}
	_, _, err = s.ClaimIdempotencyKey(c, store.IdempotencyKey{UserID: u.ID, Key: "k4"})
	wantErr(t, "claim without fingerprint", err, store.ErrInvalid)
}
