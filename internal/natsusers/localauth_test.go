package natsusers_test

import (
	"os"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/natsusers"
)

// TestEnsurePasswords: made once, owner-only, kept across starts; a file
// others may read, or none, is refused with a clear error.
func TestEnsurePasswords(t *testing.T) {
	dir := t.TempDir()
	first, err := natsusers.EnsurePasswords(dir, []string{natsusers.Operator, "api"})
	if err != nil {
		t.Fatal(err)
	}
	if len(first[natsusers.Operator]) < 32 || first["api"] == first[natsusers.Operator] {
		t.Errorf("passwords %q: want long and distinct", first)
	}
	for _, u := range []string{natsusers.Operator, "api"} {
		if fi, err := os.Stat(natsusers.PasswordFile(dir, u)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 600", u, fi.Mode(), err)
		}
	}
	again, err := natsusers.EnsurePasswords(dir, []string{natsusers.Operator, "api"})
	if err != nil || again[natsusers.Operator] != first[natsusers.Operator] || again["api"] != first["api"] {
		t.Errorf("second start: %v %v, want the same passwords", again, err)
	}
	if pw, err := natsusers.ReadPassword(dir, "api"); err != nil || pw != first["api"] {
		t.Errorf("ReadPassword = %q %v", pw, err)
	}
	if err := os.Chmod(natsusers.PasswordFile(dir, "api"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := natsusers.ReadPassword(dir, "api"); err == nil || !strings.Contains(err.Error(), "may be read by others") {
		t.Errorf("ReadPassword of a 0644 file = %v, want a refusal", err)
	}
	if _, err := natsusers.ReadPassword(t.TempDir(), natsusers.Operator); err == nil || !strings.Contains(err.Error(), "writes it at its first start") {
		t.Errorf("ReadPassword without the file = %v, want a clear error", err)
	}
}
