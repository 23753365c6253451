package storeerr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/store"
)

func TestClassify(t *testing.T) {
	if err := Classify("load", "unknown_contact", fmt.Errorf("x: %w", store.ErrNotFound)); faults.ClassOf(err) != faults.Permanent {
		t.Errorf("not found: %v", err)
	}
	if err := Classify("load", "unknown_contact", errors.New("disk")); faults.ClassOf(err) != faults.Temporary {
		t.Errorf("disk: %v", err)
	}
}
