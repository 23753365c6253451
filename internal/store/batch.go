package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// errClosed answers writes submitted after Close.
var errClosed = errors.New("store is closed")

// maxBatch bounds the writes committed together.
const maxBatch = 64

// batcher is group commit for SQLite's one writer connection. Writes that
// arrive while a commit is under way queue up; the next transaction runs
// each of them inside its own savepoint, in arrival order, and commits
// them together. A write's failure rolls back its savepoint only; a failed
// commit fails every write of the batch. A write still returns only once
// its transaction is committed, so callers see the same guarantee as with
// one transaction each, at the cost of one commit per batch.
//
// There is no committing goroutine: the caller that finds no commit under
// way leads, committing batches on its own goroutine while writes keep
// queueing, up to maxRounds, then hands the lead to the oldest waiting
// write. A dedicated goroutine would have to be scheduled for every batch,
// and on a busy machine it waits behind every other runnable goroutine
// while all writers wait for it.
//
// A write must not itself write through the store (it would wait for the
// batch it is part of), which the single writer connection already forbade.
type batcher struct {
	db    *sql.DB
	cache *stmtCache
	d     *dialect

	mu      sync.Mutex
	idle    sync.Cond // signalled when the lead is given up
	queue   []*batchReq
	leading bool // a caller is committing batches
	closed  bool

	// arrived is poked, without blocking, when a write queues: a
	// lingering leader wakes to count the queue again.
	arrived chan struct{}
	// lastBatch is the size of the last batch taken (guarded by mu).
	lastBatch int

	// commits and lingers count the transactions committed and the
	// leader's waits for more writes (for tests).
	commits, lingers atomic.Int64
}

// maxRounds bounds the batches one leader commits before it hands over.
const maxRounds = 4

// batchReq is one write waiting for its batch.
type batchReq struct {
	ctx context.Context
	fn  func(c conn) error
	res chan batchResult
}

// batchResult is a write's outcome, or (lead) the order to take the lead;
// panicked carries a panic of fn back to its caller's goroutine.
type batchResult struct {
	err      error
	panicked any
	lead     bool
}

func newBatcher(db *sql.DB, cache *stmtCache, d *dialect) *batcher {
	b := &batcher{db: db, cache: cache, d: d, arrived: make(chan struct{}, 1)}
	b.idle.L = &b.mu
	for _, q := range []string{spBegin, spRelease, spRollback} {
		cache.get(context.Background(), q) // unprepared, exec still works
	}
	return b
}

// do runs fn in a write transaction shared with other writes and returns
// once that transaction is committed or fn failed.
func (b *batcher) do(ctx context.Context, fn func(c conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &batchReq{ctx: ctx, fn: fn, res: make(chan batchResult, 1)}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	b.queue = append(b.queue, r)
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	select {
	case b.arrived <- struct{}{}:
	default:
	}
	for {
		if lead {
			b.lead()
		}
		res := <-r.res
		if res.lead {
			lead = true
			continue
		}
		if res.panicked != nil {
			panic(res.panicked)
		}
		return res.err
	}
}

// lead commits queued batches, then gives the lead up or hands it to the
// oldest waiting write. The caller holds the lead.
func (b *batcher) lead() {
	batch := make([]*batchReq, 0, maxBatch)
	for round := 0; ; round++ {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.leading = false
			b.idle.Broadcast()
			b.mu.Unlock()
			return
		}
		if round == maxRounds {
			next := b.queue[0]
			b.mu.Unlock()
			next.res <- batchResult{lead: true}
			return
		}
		if b.lastBatch >= lingerAfter && len(b.queue) < lingerFor {
			b.mu.Unlock()
			b.linger()
			b.mu.Lock()
		}
		n := min(len(b.queue), maxBatch)
		batch = append(batch[:0], b.queue[:n]...)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.lastBatch = n
		b.mu.Unlock()
		b.commit(batch)
		clear(batch)
	}
}

// Lingering, as a database's commit delay: when the last batch held at
// least lingerAfter writes, many writers are active, and a leader that
// finds fewer than lingerFor queued waits up to lingerMax for more, so
// one commit serves more writes (on the IMAP sync, 2.5 times fewer
// commits). A lone writer, or two in step, never waits: their batches
// hold one or two writes.
const (
	lingerAfter = 4
	lingerFor   = 8
	lingerMax   = 500 * time.Microsecond
)

// linger waits until lingerFor writes are queued or lingerMax has passed.
func (b *batcher) linger() {
	b.lingers.Add(1)
	t := time.NewTimer(lingerMax)
	defer t.Stop()
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n >= lingerFor {
			return
		}
		select {
		case <-b.arrived:
		case <-t.C:
			return
		}
	}
}

// close refuses new writes and returns once the queued ones are committed.
func (b *batcher) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for b.leading {
		b.idle.Wait()
	}
}

// commit runs batch and answers every request. A write that breaks the
// shared transaction fails alone: SQLite rolls a whole transaction back
// when a write statement in it is interrupted (as modernc does when the
// caller's context is cancelled mid-statement), so the batch is run again
// without that write, in a new transaction.
func (b *batcher) commit(batch []*batchReq) {
	for len(batch) > 0 {
		results, broken := b.run(batch)
		if broken < 0 {
			for i, r := range batch {
				r.res <- results[i]
			}
			return
		}
		batch[broken].res <- results[broken]
		batch = append(slices.Clip(batch[:broken]), batch[broken+1:]...)
	}
}

// run runs batch in one transaction and returns each write's result, and
// the index of the write after which the transaction was gone (-1 when
// none was): the others' results then do not count. A batch of one runs
// without savepoints, as a plain transaction.
func (b *batcher) run(batch []*batchReq) (results []batchResult, broken int) {
	results = make([]batchResult, len(batch))
	failAll := func(err error) {
		for i := range results {
			if results[i].err == nil && results[i].panicked == nil {
				results[i].err = err
			}
		}
	}
	// The transaction outlives any one caller's context; each write's
	// statements run under its own.
	t, err := b.db.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(fmt.Errorf("begin: %w", err))
		return results, -1
	}
	var later []string
	c := conn{q: t, tx: t, cache: b.cache, d: b.d, later: &later}
	single := len(batch) == 1
	committed := 0
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if !single {
			if err := b.exec(t, spBegin); err != nil {
				failAll(err)
				_ = t.Rollback()
				return results, -1
			}
		}
		results[i] = runWrite(r.fn, c)
		failed := results[i].err != nil || results[i].panicked != nil
		if !failed {
			committed++
		}
		if single {
			break
		}
		undo := []string{spRelease}
		if failed {
			undo = []string{spRollback, spRelease}
		}
		for _, stmt := range undo {
			if err := b.exec(t, stmt); err != nil { // the transaction is gone
				_ = t.Rollback()
				if !failed {
					results[i].err = err
				}
				return results, i
			}
		}
	}
	if committed == 0 {
		_ = t.Rollback()
		return results, -1
	}
	if err := t.Commit(); err != nil {
		failAll(fmt.Errorf("commit: %w", err))
		return results, -1
	}
	b.commits.Add(1)
	for _, q := range later { // the writer is free again: cache them
		b.cache.get(context.Background(), q) // a failure only means the next call prepares again
	}
	return results, -1
}

// The savepoint around each write of a batch.
const (
	spBegin    = "SAVEPOINT batch_write"
	spRelease  = "RELEASE batch_write"
	spRollback = "ROLLBACK TO batch_write"
)

// exec runs a savepoint statement in t, prepared once by newBatcher.
func (b *batcher) exec(t *sql.Tx, query string) error {
	ctx := context.Background()
	var err error
	if st, ok := b.cache.lookup(query); ok {
		_, err = t.StmtContext(ctx, st).ExecContext(ctx)
	} else {
		_, err = t.ExecContext(ctx, query)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", query, err)
	}
	return nil
}

// runWrite runs fn, turning a panic into a result.
func runWrite(fn func(c conn) error, c conn) (res batchResult) {
	defer func() {
		if p := recover(); p != nil {
			res = batchResult{panicked: p}
		}
	}()
	return batchResult{err: fn(c)}
}
