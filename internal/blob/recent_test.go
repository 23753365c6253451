package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/blobtest"
	"github.com/caliopen/functions/internal/blob/dirblob"
)

func newDir(t *testing.T) *dirblob.Store {
	t.Helper()
	d, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Recent keeping everything still keeps the Store contract.
func TestRecentContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewRecent(newDir(t), "", 1<<30) })
}

func get(t *testing.T, s blob.Store, key string) (string, error) {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if n := blob.SizeOf(rc); err == nil && n != int64(len(b)) {
		t.Errorf("Get(%s) says %d bytes, read %d", key, n, len(b))
	}
	return string(b), err
}

func put(t *testing.T, s blob.Store, key, data string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// kept reports whether key is served from memory: the underlying store
// has lost it, Recent still has it.
func kept(t *testing.T, dir blob.Store, r *blob.Recent, key, want string) bool {
	t.Helper()
	if err := dir.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	got, err := get(t, r, key)
	if err == nil && got != want {
		t.Errorf("Get(%s) = %q, want %q", key, got, want)
	}
	return err == nil
}

func TestRecentKeeps(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("b", 200) // over an eighth of 1,000 bytes
	for _, tc := range []struct {
		name, key, data string
		want            bool
	}{
		{"under the prefix", "raw/a", "hello", true},
		{"outside the prefix", "sent/a", "hello", false},
		{"too large to keep", "raw/big", big, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDir(t)
			r := blob.NewRecent(dir, "raw/", 1000)
			put(t, r, tc.key, tc.data)
			if got := kept(t, dir, r, tc.key, tc.data); got != tc.want {
				t.Errorf("kept = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("failed put", func(t *testing.T) {
		dir := newDir(t)
		r := blob.NewRecent(dir, "raw/", 1000)
		err := r.Put(ctx, "raw/short", strings.NewReader("abc"), 5)
		if !errors.Is(err, blob.ErrSizeMismatch) {
			t.Fatalf("Put of 3 bytes announced as 5 = %v, want ErrSizeMismatch", err)
		}
		if _, err := get(t, r, "raw/short"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get after a failed Put = %v, want ErrNotFound", err)
		}
	})

	t.Run("delete forgets", func(t *testing.T) {
		dir := newDir(t)
		r := blob.NewRecent(dir, "raw/", 1000)
		put(t, r, "raw/d", "gone soon")
		if err := r.Delete(ctx, "raw/d"); err != nil {
			t.Fatal(err)
		}
		if _, err := get(t, r, "raw/d"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("least recently used leave first", func(t *testing.T) {
		dir := newDir(t)
		r := blob.NewRecent(dir, "raw/", 1000)
		chunk := strings.Repeat("x", 100)
		for _, k := range []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"} {
			put(t, r, "raw/"+k, chunk)
		}
		put(t, r, "raw/2", chunk) // put again: now the newest
		put(t, r, "raw/11", chunk)
		put(t, r, "raw/12", chunk)
		// 1,000 bytes fit ten: 1 and 3 have left, 2 (put again) stays.
		for k, want := range map[string]bool{"1": false, "3": false, "2": true, "4": true, "12": true} {
			if got := kept(t, dir, r, "raw/"+k, chunk); got != want {
				t.Errorf("raw/%s kept = %v, want %v", k, got, want)
			}
		}
	})

	t.Run("many deletes", func(t *testing.T) {
		dir := newDir(t)
		r := blob.NewRecent(dir, "raw/", 1000)
		for i := 0; i < 500; i++ {
			put(t, r, "raw/churn", "x")
			if err := r.Delete(ctx, "raw/churn"); err != nil {
				t.Fatal(err)
			}
		}
		put(t, r, "raw/last", "y")
		if !kept(t, dir, r, "raw/last", "y") {
			t.Error("raw/last not kept after many deletes")
		}
	})
}

// A kept object's reader is independent: reading it twice at once gives
// the same bytes.
func TestRecentConcurrentReaders(t *testing.T) {
	r := blob.NewRecent(newDir(t), "raw/", 1000)
	put(t, r, "raw/x", "shared bytes")
	a, err := r.Get(context.Background(), "raw/x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Get(context.Background(), "raw/x")
	if err != nil {
		t.Fatal(err)
	}
	var ba, bb bytes.Buffer
	io.CopyN(&ba, a, 3)
	io.Copy(&bb, b)
	io.Copy(&ba, a)
	if ba.String() != "shared bytes" || bb.String() != "shared bytes" {
		t.Errorf("readers gave %q and %q", ba.String(), bb.String())
	}
}
