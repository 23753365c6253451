// Package rawimport is the import loop that imap-fetch and twitter-dm
// share: raw messages are stored by chunks (one durability barrier a
// chunk, blob.PutAll, under store.RawKey of their content-addressed id),
// and each is processed (its process_inbound request) once its chunk is
// stored, a bounded number at once. A chunk is written while the one
// before it is processed; a chunk whose write fails is not processed at
// all, so a caller that advances a cursor over processed messages never
// skips it.
package rawimport

import (
	"context"
	"fmt"
	"sync"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/store"
)

// Item is one raw message: its id (store.RawID of Raw) and bytes, and
// the caller's index for it.
type Item struct {
	Index int
	ID    string
	Raw   []byte
}

// NewItem is the item of raw, with its content-addressed id.
func NewItem(index int, raw []byte) Item { return Item{Index: index, ID: store.RawID(raw), Raw: raw} }

// Config is what a Run needs.
type Config struct {
	Blobs blob.Store
	// Pool runs the chunk writes and the processing.
	Pool *gopool.Pool
	// InFlight bounds the items processed at once (at least 1).
	InFlight int
	// Process handles a stored item; it records its own outcome.
	Process func(ctx context.Context, it Item)
	// Failed records the outcome of an item whose chunk was not stored.
	Failed func(it Item, err error)
}

// writers is how many chunks may be stored, or wait for processing
// slots, at once: the memory a fast source fills beyond InFlight.
const writers = 2

// ChunkSize is the items stored together for inFlight processed at once:
// half of them (at least 1, at most 64), so that a chunk is written while
// the one before it is processed.
func ChunkSize(inFlight int) int { return min(max(inFlight/2, 1), 64) }

// Run is one import; Add items, then Wait. Add is not safe for concurrent
// use.
type Run struct {
	ctx     context.Context
	cfg     Config
	sem     chan struct{}
	writers chan struct{}
	wg      sync.WaitGroup
	chunk   []Item
	size    int
}

// Start begins an import.
func Start(ctx context.Context, cfg Config) *Run {
	n := max(cfg.InFlight, 1)
	size := ChunkSize(n)
	return &Run{ctx: ctx, cfg: cfg, sem: make(chan struct{}, n), writers: make(chan struct{}, writers),
		chunk: make([]Item, 0, size), size: size}
}

// Add queues it; a full chunk is handed over to be stored, which waits
// while writers chunks are already waiting.
func (r *Run) Add(it Item) {
	r.chunk = append(r.chunk, it)
	if len(r.chunk) >= r.size {
		r.flush()
	}
}

// Wait stores the last chunk and returns once every item is processed or
// failed.
func (r *Run) Wait() {
	r.flush()
	r.wg.Wait()
}

func (r *Run) flush() {
	if len(r.chunk) == 0 {
		return
	}
	c := r.chunk
	r.chunk = make([]Item, 0, r.size)
	r.writers <- struct{}{}
	r.wg.Add(1)
	r.cfg.Pool.Go(func() {
		defer r.wg.Done()
		defer func() { <-r.writers }() // once the chunk's last item has its slot
		if err := r.store(c); err != nil {
			for _, it := range c {
				r.cfg.Failed(it, err)
			}
			return
		}
		for _, it := range c {
			r.sem <- struct{}{}
			r.wg.Add(1)
			r.cfg.Pool.Go(func() {
				defer r.wg.Done()
				defer func() { <-r.sem }()
				r.cfg.Process(r.ctx, it)
			})
		}
	})
}

// store writes the chunk's raw messages at once; the same bytes twice are
// one object.
func (r *Run) store(c []Item) error {
	objs := make([]blob.Object, 0, len(c))
	seen := make(map[string]bool, len(c))
	for _, it := range c {
		if !seen[it.ID] {
			seen[it.ID] = true
			objs = append(objs, blob.Object{Key: store.RawKey(it.ID), Data: it.Raw})
		}
	}
	if err := blob.PutAll(r.ctx, r.cfg.Blobs, objs); err != nil {
		return fmt.Errorf("store %d raw messages: %w", len(objs), err)
	}
	return nil
}
