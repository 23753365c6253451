// Package secretenvtest lays out secrets as a Kubernetes secret volume
// mounts them, for tests of what reads them.
package secretenvtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Volume writes, under dir, the folder a Kubernetes secret volume
// mounts at dir/name: each key a symbolic link to ..data/<key>, ..data a
// link to a timestamped folder holding the files, as the kubelet's atomic
// writer lays them out.
func Volume(t testing.TB, dir, name string, keys map[string]string) string {
	t.Helper()
	vol := filepath.Join(dir, name)
	ts := filepath.Join(vol, "..2026_12_03_02_00_00.123456789")
	if err := os.MkdirAll(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	for k, v := range keys {
		if err := os.WriteFile(filepath.Join(ts, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(vol, k)); err != nil {
			t.Fatal(err)
		}
	}
	return vol
}
