package blob_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caliopen/functions/internal/blob"
)

// putOnly is a Store without PutBatch: PutAll falls back on Put.
type putOnly struct{ blob.Store }

// failingBatch refuses every batch.
type failingBatch struct{ blob.Store }

func (failingBatch) PutBatch(context.Context, []blob.Object) error { return errors.New("disk full") }

func TestPutAll(t *testing.T) {
	objs := []blob.Object{{Key: "raw/a", Data: []byte("alpha")}, {Key: "raw/b", Data: []byte("beta")}, {Key: "other/c", Data: []byte("gamma")}}
	for name, s := range map[string]blob.Store{
		"dir":             newDir(t),
		"put only":        putOnly{newDir(t)},
		"recent over dir": blob.NewRecent(newDir(t), "raw/", 1<<20),
		"traced recent":   blob.Traced(blob.NewRecent(putOnly{newDir(t)}, "raw/", 1<<20)),
	} {
		t.Run(name, func(t *testing.T) {
			if err := blob.PutAll(t.Context(), s, objs); err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if got, err := get(t, s, o.Key); err != nil || got != string(o.Data) {
					t.Errorf("%s reads %q, %v; want %q", o.Key, got, err, o.Data)
				}
			}
		})
	}
}

// Recent keeps a batch's objects under its prefix once the store has
// them, and none of a failed batch.
func TestRecentPutBatch(t *testing.T) {
	d := newDir(t)
	r := blob.NewRecent(d, "raw/", 1<<20)
	if err := r.PutBatch(t.Context(), []blob.Object{{Key: "raw/a", Data: []byte("alpha")}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(t.Context(), "raw/a"); err != nil {
		t.Fatal(err)
	}
	if got, err := get(t, r, "raw/a"); err != nil || got != "alpha" {
		t.Errorf("raw/a from memory: %q, %v", got, err)
	}
	f := blob.NewRecent(failingBatch{newDir(t)}, "raw/", 1<<20)
	if err := f.PutBatch(t.Context(), []blob.Object{{Key: "raw/b", Data: []byte("beta")}}); err == nil {
		t.Fatal("a failed batch reported stored")
	}
	if rc, err := f.Get(t.Context(), "raw/b"); !errors.Is(err, blob.ErrNotFound) {
		if rc != nil {
			b, _ := io.ReadAll(rc)
			t.Errorf("raw/b of a failed batch served: %q", b)
		}
		t.Errorf("Get after a failed batch: %v, want not found", err)
	}
}

// An object Recent holds is read without a copy (InMemory), within the
// limit; one over it is still refused.
func TestReadLimitedInMemory(t *testing.T) {
	r := blob.NewRecent(newDir(t), "raw/", 1<<20)
	data := []byte("alpha, kept in memory")
	if err := r.PutBatch(t.Context(), []blob.Object{{Key: "raw/a", Data: data}}); err != nil {
		t.Fatal(err)
	}
	got, err := blob.ReadLimited(t.Context(), r, "raw/a", 100)
	if err != nil || string(got) != string(data) {
		t.Fatalf("ReadLimited: %q, %v", got, err)
	}
	if &got[0] != &data[0] {
		t.Error("a kept object was copied")
	}
	if _, err := blob.ReadLimited(t.Context(), r, "raw/a", 5); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("ReadLimited over the limit: %v, want ErrTooLarge", err)
	}
}

// slowPuts is a store without PutBatch whose Puts wait until another is
// under way (or a second passes), recording whether they overlapped.
type slowPuts struct {
	blob.Store
	inFlight   chan struct{}
	overlapped atomic.Bool
}

func (s *slowPuts) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	select {
	case s.inFlight <- struct{}{}: // a partner took it
		s.overlapped.Store(true)
	case <-s.inFlight: // from a partner
		s.overlapped.Store(true)
	case <-time.After(time.Second):
	}
	return s.Store.Put(ctx, key, r, size)
}

// On a store without PutBatch (S3's), PutAll's Puts overlap: a chunk
// costs about one round trip, not one each.
func TestPutAllOverlapsPuts(t *testing.T) {
	s := &slowPuts{Store: newDir(t), inFlight: make(chan struct{})}
	if err := blob.PutAll(t.Context(), s, []blob.Object{{Key: "raw/a", Data: []byte("a")}, {Key: "raw/b", Data: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if !s.overlapped.Load() {
		t.Error("PutAll ran its Puts one after another")
	}
}
