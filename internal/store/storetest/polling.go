package storetest

import (
	"testing"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// testPolling checks the claim, ensure, pull and delete of schedules and
// the identity fields the scheduler's functions change.
func testPolling(t *testing.T, s *store.SQL) {
	c := ctx(t)
	a := user(t, s, "a")
	ia := remote(t, s, a, "a@r.example")
	if !try(s.EnsureSchedule(c, a.ID, ia.ID, at(0))).ok(t) {
		t.Fatal("first EnsureSchedule = false")
	}
	if try(s.EnsureSchedule(c, a.ID, ia.ID, at(time.Hour))).ok(t) {
		t.Error("second EnsureSchedule = true")
	}
	if got := try(s.GetSchedule(c, a.ID, ia.ID)).ok(t); !got.Equal(at(0)) {
		t.Errorf("schedule after a repeated ensure = %v, want %v", got, at(0))
	}
	_, err := s.EnsureSchedule(c, a.ID, "nope", at(0))
	wantErr(t, "EnsureSchedule unknown", err, store.ErrNotFound)

	due := try(s.DueSchedules(c, at(time.Second), 10)).ok(t)
	if len(due) != 1 {
		t.Fatalf("due = %+v", due)
	}
	if !try(s.ClaimSchedule(c, due[0], at(15*time.Minute))).ok(t) {
		t.Fatal("first claim = false")
	}
	if try(s.ClaimSchedule(c, due[0], at(15*time.Minute))).ok(t) {
		t.Error("second claim of the same read = true")
	}
	if got := try(s.GetSchedule(c, a.ID, ia.ID)).ok(t); !got.Equal(at(15 * time.Minute)) {
		t.Errorf("schedule after claim = %v", got)
	}

	noErr(t, s.PullSchedule(c, a.ID, ia.ID, at(20*time.Minute))) // later: unchanged
	noErr(t, s.PullSchedule(c, a.ID, ia.ID, at(5*time.Minute)))
	if got := try(s.GetSchedule(c, a.ID, ia.ID)).ok(t); !got.Equal(at(5 * time.Minute)) {
		t.Errorf("schedule after pull = %v, want %v", got, at(5*time.Minute))
	}

	noErr(t, s.SetPollInterval(c, a.ID, ia.ID, 42*time.Minute))
	if got := try(s.GetIdentity(c, a.ID, ia.ID)).ok(t); got.PollInterval != 42*time.Minute {
		t.Errorf("poll interval = %s", got.PollInterval)
	}
	wantErr(t, "SetPollInterval unknown", s.SetPollInterval(c, a.ID, "nope", time.Minute), store.ErrNotFound)
	wantErr(t, "SetPollInterval zero", s.SetPollInterval(c, a.ID, ia.ID, 0), store.ErrInvalid)

	try(s.RecordSyncError(c, a.ID, ia.ID, "boom", at(0))).ok(t)
	noErr(t, s.SaveSyncProgress(c, a.ID, ia.ID, store.SyncProgress{Cursor: "7", UIDValidity: 3, At: at(0)}))
	try(s.RecordSyncError(c, a.ID, ia.ID, "boom", at(time.Minute))).ok(t)
	noErr(t, s.ClearSyncError(c, a.ID, ia.ID))
	got := try(s.GetIdentity(c, a.ID, ia.ID)).ok(t)
	if got.Sync.LastError != "" || got.Sync.ErrorCount != 0 || !got.Sync.FirstErrorAt.IsZero() || got.Sync.Cursor != "7" {
		t.Errorf("sync state after clear = %+v", got.Sync)
	}

	noErr(t, s.DeleteSchedule(c, a.ID, ia.ID))
	noErr(t, s.DeleteSchedule(c, a.ID, ia.ID))
	_, err = s.GetSchedule(c, a.ID, ia.ID)
	wantErr(t, "GetSchedule after delete", err, store.ErrNotFound)
}
