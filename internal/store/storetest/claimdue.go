package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// testClaimDue checks ClaimDue on more runs than one claim statement takes
// (and a count that is not a power of two): every due run of an active
// remote identity is claimed once, most overdue first, and moved to its
// next; runs of inactive identities and runs not yet due stay.
func testClaimDue(t *testing.T, s *store.SQL) {
	c := ctx(t)
	u := user(t, s, "claimer")
	const n = 77
	var ids []store.Identity
	for i := range n {
		id := remote(t, s, u, fmt.Sprintf("c%d@r.example", i))
		ids = append(ids, id)
		noErr(t, s.SetNextRun(c, u.ID, id.ID, at(time.Duration(i)*time.Second)))
	}
	later := remote(t, s, u, "later@r.example")
	noErr(t, s.SetNextRun(c, u.ID, later.ID, at(time.Hour)))
	off := remote(t, s, u, "off@r.example")
	noErr(t, s.SetNextRun(c, u.ID, off.ID, at(0)))
	noErr(t, s.SetIdentityStatus(c, u.ID, off.ID, store.Inactive))

	next := func(i int, d store.Due) time.Time { return at(time.Hour + time.Duration(i)*time.Minute) }
	claims, won, err := s.ClaimDue(c, at(time.Minute+17*time.Second), 100, next)
	noErr(t, err)
	if len(claims) != n || len(won) != n {
		t.Fatalf("ClaimDue read %d runs (%d outcomes), want %d", len(claims), len(won), n)
	}
	for i, cl := range claims {
		if cl.Due.IdentityID != ids[i].ID || !won[i] {
			t.Errorf("claim %d = %s won %v, want %s won", i, cl.Due.IdentityID, won[i], ids[i].ID)
		}
		if got := try(s.GetSchedule(c, u.ID, cl.Due.IdentityID)).ok(t); !got.Equal(next(i, cl.Due)) {
			t.Errorf("claim %d: next run %v, want %v", i, got, next(i, cl.Due))
		}
	}
	if got := try(s.GetSchedule(c, u.ID, off.ID)).ok(t); !got.Equal(at(0)) {
		t.Errorf("inactive identity's run moved to %v", got)
	}
	if got := try(s.GetSchedule(c, u.ID, later.ID)).ok(t); !got.Equal(at(time.Hour)) {
		t.Errorf("run not due moved to %v", got)
	}
	// Claimed runs are no longer due; a compare-and-set on a claimed
	// run's old time fails.
	claims2, _, err := s.ClaimDue(c, at(time.Minute+17*time.Second), 100, next)
	noErr(t, err)
	if len(claims2) != 0 {
		t.Errorf("second ClaimDue read %d runs, want none", len(claims2))
	}
	if ok := try(s.ClaimSchedule(c, claims[3].Due, at(2*time.Hour))).ok(t); ok {
		t.Error("ClaimSchedule of a run ClaimDue moved = true")
	}
}
