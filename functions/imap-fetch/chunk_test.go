package imapfetch

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/rawimport"
	"github.com/caliopen/functions/internal/store"
)

// batchBlobs is the harness's blob directory, counting its batches and
// failing the first batch that holds a given key.
type batchBlobs struct {
	blob.Store
	mu      sync.Mutex
	batches []int // objects per batch
	failKey string
	failed  bool
}

func (b *batchBlobs) PutBatch(ctx context.Context, objs []blob.Object) error {
	b.mu.Lock()
	b.batches = append(b.batches, len(objs))
	fail := false
	for _, o := range objs {
		if o.Key == b.failKey && !b.failed {
			fail, b.failed = true, true
		}
	}
	b.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return blob.PutAll(ctx, b.Store, objs)
}

// TestDovecotChunkedRawWrites: the raw messages are written by chunks of
// half the messages in flight, and a chunk whose write fails is not
// processed: the cursor stays below it, and the next sync stores and
// processes it, skipping nothing.
func TestDovecotChunkedRawWrites(t *testing.T) {
	d, c := dovecot(t)
	appendN(t, c, t.Name(), 0, 10)
	h := newHarness(t, testConfig()) // in flight 4: chunks of 2
	h.account(d.Addr, d.User, d.Pass)
	bad := rawIDOf(message(t.Name(), 5, 2048))
	bb := &batchBlobs{Store: h.blobs, failKey: store.RawKey(bad)}
	h.f.deps.Blobs = bb

	res, err := h.invoke(context.Background(), contract.OrderSync)
	if err != nil || !strings.Contains(res.Message, "failed 2") {
		t.Fatalf("first sync: %s %v (want the failed chunk's 2 messages failed)", res.Message, err)
	}
	if h.orders(bad) != 0 {
		t.Errorf("a message whose raw write failed was ordered %d times", h.orders(bad))
	}
	st := h.identity().Sync
	first, _ := strconv.Atoi(st.Cursor)
	if st.ErrorCount != 1 {
		t.Errorf("after a failed chunk (messages 4 and 5): %d errors, want 1", st.ErrorCount)
	}
	res, err = h.invoke(context.Background(), contract.OrderSync)
	if err != nil || !strings.Contains(res.Message, "fetched 6, processed 6, failed 0") {
		t.Fatalf("second sync: %s %v", res.Message, err)
	}
	// The ten UIDs are consecutive (appended at once; the mailbox's UIDs go
	// on from earlier tests): the first cursor is the fourth message's,
	// six below the last.
	if last, _ := strconv.Atoi(h.identity().Sync.Cursor); first != last-6 {
		t.Errorf("after a failed chunk (messages 4 and 5): cursor %d, want %d (below the chunk; the last UID is %d)", first, last-6, last)
	}
	if got, _ := h.processed(); got != 10 || h.raws() != 10 || h.orders(bad) != 1 {
		t.Errorf("%d processed, %d stored, the failed one ordered %d times; want 10, 10, 1", got, h.raws(), h.orders(bad))
	}
	for _, n := range bb.batches {
		if n > rawimport.ChunkSize(testConfig().InFlight) {
			t.Errorf("a batch of %d raw messages, over the chunk size %d", n, rawimport.ChunkSize(testConfig().InFlight))
		}
	}
	if len(bb.batches) >= 10+5 {
		t.Errorf("%d batches for 15 writes: not chunked", len(bb.batches))
	}
}
