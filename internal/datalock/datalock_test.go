package datalock_test

import (
	"errors"
	"testing"

	"github.com/caliopen/functions/internal/datalock"
)

// TestTake: one holder at a time; released, the lock is free again.
func TestTake(t *testing.T) {
	dir := t.TempDir()
	release, err := datalock.Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datalock.Take(dir); !errors.Is(err, datalock.ErrInUse) {
		t.Errorf("second lock: %v, want ErrInUse", err)
	}
	release()
	release, err = datalock.Take(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release()
	if _, err := datalock.Take(dir + "/missing"); err == nil || errors.Is(err, datalock.ErrInUse) {
		t.Errorf("lock of a missing directory: %v, want an error other than ErrInUse", err)
	}
}
