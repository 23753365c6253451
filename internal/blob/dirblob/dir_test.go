package dirblob_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/blobtest"
	"github.com/caliopen/functions/internal/blob/dirblob"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := dirblob.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestLayoutAndCleanup checks that objects are plain files under the root,
// that nothing is written outside it, and that failed Puts leave no
// temporary file behind.
func TestLayoutAndCleanup(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "blobs")
	s, err := dirblob.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "u1/raw/m.eml", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "u1", "raw", "m.eml")); err != nil || string(b) != "hello" {
		t.Fatalf("object file = %q, %v", b, err)
	}
	_ = s.Put(ctx, "u1/raw/bad.eml", strings.NewReader("short"), 50)
	_ = s.Put(ctx, "../outside", strings.NewReader("x"), 1)
	// A key crossing a file is missing, not an error of another kind.
	if _, err := s.Get(ctx, "u1/raw/m.eml/x"); err == nil {
		t.Error("Get through a file succeeded")
	}
	var files []string
	filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, parent))
		}
		return err
	})
	if len(files) != 1 || files[0] != "/blobs/u1/raw/m.eml" {
		t.Errorf("files on disk = %q, want only /blobs/u1/raw/m.eml", files)
	}
	if err := s.Put(ctx, "u1", bytes.NewReader(nil), 0); err == nil {
		t.Error("Put onto a directory succeeded")
	}
	if _, err := dirblob.New(""); err == nil {
		t.Error("New(\"\") succeeded")
	}
}
