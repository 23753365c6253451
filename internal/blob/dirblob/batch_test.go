package dirblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caliopen/functions/internal/blob"
)

// batchStores is the store with and without O_TMPFILE (named temporary
// files renamed into place).
func batchStores(t *testing.T) map[string]*Store {
	named, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	named.unnamed = func() bool { return false }
	unnamed, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Store{"named": named, "unnamed": unnamed}
}

func read(t *testing.T, s *Store, key string) (string, error) {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func TestPutBatch(t *testing.T) {
	for name, s := range batchStores(t) {
		t.Run(name, func(t *testing.T) {
			var dirSyncs atomic.Int64
			s.dirs.fsync = func(dir string) error { dirSyncs.Add(1); return syncDir(dir) }
			if err := s.Put(t.Context(), "raw/0", strings.NewReader("old"), 3); err != nil {
				t.Fatal(err)
			}
			dirSyncs.Store(0)
			var objs []blob.Object
			for i := range 20 {
				objs = append(objs, blob.Object{Key: fmt.Sprint("raw/", i), Data: []byte(fmt.Sprint("object ", i))})
			}
			if err := s.PutBatch(t.Context(), objs); err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if got, err := read(t, s, o.Key); err != nil || got != string(o.Data) {
					t.Errorf("%s reads %q, %v; want %q", o.Key, got, err, o.Data)
				}
			}
			if n := dirSyncs.Load(); n != 1 {
				t.Errorf("%d directory fsyncs for a batch into one directory, want 1", n)
			}
			left, _ := filepath.Glob(filepath.Join(s.root, "raw", ".tmp-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestPutBatchRefusesBadKeysBeforeWriting(t *testing.T) {
	for name, objs := range map[string][]blob.Object{
		"invalid key": {{Key: "raw/a", Data: []byte("a")}, {Key: "../b", Data: []byte("b")}},
		"key twice":   {{Key: "raw/a", Data: []byte("a")}, {Key: "raw/a", Data: []byte("b")}},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutBatch(t.Context(), objs); !errors.Is(err, blob.ErrInvalidKey) {
				t.Fatalf("PutBatch: %v, want ErrInvalidKey", err)
			}
			if _, err := read(t, s, "raw/a"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("raw/a after a refused batch: %v, want not found", err)
			}
		})
	}
}

func TestPutBatchCancelled(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.PutBatch(ctx, []blob.Object{{Key: "raw/a", Data: []byte("a")}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutBatch with an ended context: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "raw", "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("raw/a written by a cancelled batch: %v", err)
	}
}

// A failing fsync fails the batch (which then links no file).
func TestPutBatchSyncFailure(t *testing.T) {
	boom := errors.New("disk gone")
	err := syncAll(t.Context(), 20, func(i int) error {
		if i == 7 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("syncAll: %v, want the failure", err)
	}
}

// New probes nothing: the O_TMPFILE check waits for the first write, so
// a start pays no file created and removed.
func TestNewWritesNothing(t *testing.T) {
	root := t.TempDir()
	var probes atomic.Int64
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	probe := s.unnamed
	s.unnamed = func() bool { probes.Add(1); return probe() }
	if _, err := read(t, s, "raw/none"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if n := probes.Load(); n != 0 {
		t.Errorf("%d O_TMPFILE probes before any write", n)
	}
	if err := s.Put(t.Context(), "raw/a", strings.NewReader("a"), 1); err != nil {
		t.Fatal(err)
	}
	if n := probes.Load(); n == 0 {
		t.Error("no O_TMPFILE probe at the first write")
	}
}
