package platform_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caliopen/functions/internal/platform"
)

// TestKeyringFile: the keyring file is created private, kept across loads,
// and a looser existing one is taken down to 0600.
func TestKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "elsewhere", "caliopen.keys")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	k1, err := platform.KeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created with mode %v (%v), want 600", fi.Mode().Perm(), err)
	}
	sealed, err := k1.Seal([]byte("imap password"), []byte("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	k2, err := platform.KeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("existing file left at mode %o", fi.Mode().Perm())
	}
	if p, err := k2.Open(sealed, []byte("ctx")); err != nil || string(p) != "imap password" {
		t.Errorf("reloaded keyring does not open what the first sealed: %q %v", p, err)
	}
}
