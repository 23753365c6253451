package rawimport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/store"
)

// failing fails the batches holding failKey.
type failing struct {
	blob.Store
	failKey string
	batches atomic.Int64
}

func (f *failing) PutBatch(ctx context.Context, objs []blob.Object) error {
	f.batches.Add(1)
	for _, o := range objs {
		if o.Key == f.failKey {
			return errors.New("disk full")
		}
	}
	return blob.PutAll(ctx, f.Store, objs)
}

func TestRun(t *testing.T) {
	d, err := dirblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	const n, inFlight = 40, 8
	items := make([]Item, n)
	for i := range items {
		items[i] = NewItem(i, []byte(fmt.Sprint("message ", i)))
	}
	blobs := &failing{Store: d, failKey: store.RawKey(items[13].ID)}
	var (
		mu              sync.Mutex
		processed       = map[int]bool{}
		failed          = map[int]bool{}
		running, most   atomic.Int64
		pool            gopool.Pool
		storedBeforeRun = true
	)
	defer pool.Close()
	run := Start(t.Context(), Config{Blobs: blobs, Pool: &pool, InFlight: inFlight,
		Process: func(ctx context.Context, it Item) {
			now := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
			}
			got, err := blob.ReadLimited(ctx, d, store.RawKey(it.ID), 1<<10)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || string(got) != string(it.Raw) {
				storedBeforeRun = false
			}
			processed[it.Index] = true
		},
		Failed: func(it Item, err error) {
			mu.Lock()
			defer mu.Unlock()
			failed[it.Index] = true
		}})
	for _, it := range items {
		run.Add(it)
	}
	run.Wait()
	size := ChunkSize(inFlight)
	chunk := 13 / size
	for i := range n {
		inFailed := i/size == chunk
		if failed[i] != inFailed || processed[i] == inFailed {
			t.Errorf("item %d: processed %v, failed %v; want only the chunk of item 13 (%d..%d) failed",
				i, processed[i], failed[i], chunk*size, chunk*size+size-1)
		}
	}
	if !storedBeforeRun {
		t.Error("an item was processed before its bytes were stored")
	}
	if got := blobs.batches.Load(); got != n/int64(size) {
		t.Errorf("%d batches for %d items, want %d", got, n, n/size)
	}
	if m := most.Load(); m > inFlight {
		t.Errorf("%d items processed at once, over %d", m, inFlight)
	}
}
