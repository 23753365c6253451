package dirblob

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/blobtest"
)

// TestContractNamedFiles runs the contract with temporary names and
// renames, as on systems or file systems without O_TMPFILE.
func TestContractNamedFiles(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s.unnamed = func() bool { return false }
		return s
	})
}

// TestUnnamedFilesOnLinux: on Linux the store writes unnamed files, and
// neither a new object nor a replaced one leaves a temporary name behind.
func TestUnnamedFilesOnLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("O_TMPFILE is Linux's")
	}
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if !s.unnamed() {
		t.Fatalf("O_TMPFILE not used in %s", root)
	}
	ctx := context.Background()
	for _, body := range []string{"first", "second, longer"} {
		if err := s.Put(ctx, "a/b", strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(root, "a", "b")); err != nil || string(b) != body {
			t.Fatalf("object = %q, %v; want %q", b, err, body)
		}
	}
	var names []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, root))
		}
		return err
	})
	if len(names) != 1 || names[0] != "/a/b" {
		t.Errorf("files = %q, want only /a/b", names)
	}
	if st, err := os.Stat(filepath.Join(root, "a", "b")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("object mode = %v, %v; want 0600", st.Mode(), err)
	}
}
