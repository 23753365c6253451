package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// openBatched opens a SQLite store in a temporary directory.
func openBatched(t *testing.T) *SQL {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if s.batch == nil {
		t.Fatal("SQLite store without a batcher")
	}
	return s
}

// insertRawWrite is a write inserting raw message id.
func insertRawWrite(ctx context.Context, id string) func(c conn) error {
	return func(c conn) error {
		_, err := c.exec(ctx, `INSERT INTO raw_messages (`+rawCols+`) VALUES (?, ?, ?, ?, ?)`, id, "k/"+id, 1, false, 0)
		return err
	}
}

// rawExists reports whether raw message id is in the store.
func rawExists(t *testing.T, s *SQL, id string) bool {
	t.Helper()
	_, err := s.GetRaw(t.Context(), id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// holdWriter starts a write that blocks the batcher until the returned
// release is called, so that the writes submitted meanwhile form one batch.
func holdWriter(t *testing.T, s *SQL) (release func()) {
	t.Helper()
	started, hold := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.tx(t.Context(), func(c conn) error {
			close(started)
			<-hold
			return insertRawWrite(t.Context(), "holder")(c)
		})
	}()
	<-started
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n writes wait for the batcher (they block on its
// unbuffered channel, so the test can only poll for goroutines parked
// there by giving them time).
func waitQueued() { time.Sleep(50 * time.Millisecond) }

func TestBatchIsolatesFailures(t *testing.T) {
	s := openBatched(t)
	release := holdWriter(t, s)
	before := s.batch.commits.Load()
	boom := errors.New("boom")
	cases := []struct {
		id   string
		fail bool
	}{{"a", false}, {"b", true}, {"c", false}, {"d", true}, {"e", false}}
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, tc := range cases {
		wg.Go(func() {
			errs[i] = s.tx(t.Context(), func(c conn) error {
				if err := insertRawWrite(t.Context(), tc.id)(c); err != nil {
					return err
				}
				if tc.fail {
					return boom // after its insert: the savepoint must undo it
				}
				return nil
			})
		})
	}
	waitQueued()
	release()
	wg.Wait()
	for i, tc := range cases {
		if tc.fail != errors.Is(errs[i], boom) || (!tc.fail && errs[i] != nil) {
			t.Errorf("write %s: err = %v, want failure %v", tc.id, errs[i], tc.fail)
		}
		if got := rawExists(t, s, tc.id); got == tc.fail {
			t.Errorf("write %s: stored = %v, want %v", tc.id, got, !tc.fail)
		}
	}
	// The holder's commit, then one commit for the five queued writes.
	if got := s.batch.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for the holder and one batch, want 2", got)
	}
}

func TestBatchConstraintErrorKeepsOthers(t *testing.T) {
	s := openBatched(t)
	if err := s.tx(t.Context(), insertRawWrite(t.Context(), "dup")); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, s)
	var dupErr, okErr error
	var wg sync.WaitGroup
	wg.Go(func() { dupErr = s.tx(t.Context(), insertRawWrite(t.Context(), "dup")) })
	wg.Go(func() { okErr = s.write().one(t.Context(), `UPDATE raw_messages SET size = 7 WHERE id = ?`, "dup") })
	waitQueued()
	release()
	wg.Wait()
	if dupErr == nil {
		t.Error("a duplicate primary key was accepted")
	}
	if okErr != nil {
		t.Errorf("a write batched with a failing one failed: %v", okErr)
	}
	r, err := s.GetRaw(t.Context(), "dup")
	if err != nil || r.Size != 7 {
		t.Errorf("GetRaw = %+v, %v; want size 7", r, err)
	}
}

func TestBatchPanicReachesCaller(t *testing.T) {
	s := openBatched(t)
	release := holdWriter(t, s)
	var okErr error
	var recovered any
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() { recovered = recover() }()
		_ = s.tx(t.Context(), func(c conn) error {
			if err := insertRawWrite(t.Context(), "panicker")(c); err != nil {
				return err
			}
			panic("write panicked")
		})
	})
	wg.Go(func() { okErr = s.tx(t.Context(), insertRawWrite(t.Context(), "calm")) })
	waitQueued()
	release()
	wg.Wait()
	if recovered != "write panicked" {
		t.Errorf("recovered %v, want the write's panic", recovered)
	}
	if okErr != nil || !rawExists(t, s, "calm") {
		t.Errorf("the write beside a panicking one: %v", okErr)
	}
	if rawExists(t, s, "panicker") {
		t.Error("the panicking write's insert was committed")
	}
}

func TestBatchCancelledWhileQueued(t *testing.T) {
	s := openBatched(t)
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.tx(ctx, insertRawWrite(ctx, "late")) }()
	waitQueued()
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v, want context.Canceled", err)
	}
	if rawExists(t, s, "late") {
		t.Error("a cancelled write was committed")
	}
}

func TestBatchManyWriters(t *testing.T) {
	s := openBatched(t)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := s.tx(t.Context(), insertRawWrite(t.Context(), fmt.Sprint("m", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var got int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM raw_messages`).Scan(&got); err != nil || got != n {
		t.Errorf("%d rows (%v), want %d", got, err, n)
	}
	if c := s.batch.commits.Load(); c > n {
		t.Errorf("%d commits for %d writes", c, n)
	}
}

func TestBatchClosed(t *testing.T) {
	s := openBatched(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.tx(t.Context(), insertRawWrite(t.Context(), "x")); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v, want errClosed", err)
	}
}

// A write after which the shared transaction is gone (SQLite rolls a whole
// transaction back when a write statement in it is interrupted; here the
// write rolls it back itself) fails alone: its neighbours are run again in
// a new transaction and committed.
func TestBatchWriteThatBreaksTheTransaction(t *testing.T) {
	s := openBatched(t)
	release := holdWriter(t, s)
	boom := errors.New("interrupted")
	breaker := func(claim error) func(c conn) error {
		return func(c conn) error {
			if _, err := c.tx.ExecContext(t.Context(), "ROLLBACK"); err != nil {
				return err
			}
			return claim
		}
	}
	var before, broken, lying, after error
	var wg sync.WaitGroup
	wg.Go(func() { before = s.tx(t.Context(), insertRawWrite(t.Context(), "before")) })
	waitQueued()
	wg.Go(func() { broken = s.tx(t.Context(), breaker(boom)) })
	waitQueued()
	wg.Go(func() { lying = s.tx(t.Context(), breaker(nil)) }) // breaks it and says it succeeded
	waitQueued()
	wg.Go(func() { after = s.tx(t.Context(), insertRawWrite(t.Context(), "after")) })
	waitQueued()
	release()
	wg.Wait()
	if !errors.Is(broken, boom) {
		t.Errorf("the breaking write: %v, want its own error", broken)
	}
	if lying == nil {
		t.Error("a write that broke the transaction was reported committed")
	}
	for name, err := range map[string]error{"before": before, "after": after} {
		if err != nil || !rawExists(t, s, name) {
			t.Errorf("write %s beside the breaking ones: err %v, stored %v", name, err, rawExists(t, s, name))
		}
	}
}

// TestBatchLoneWriterNeverLingers: a writer alone (batches of one) and
// two writers in step never wait for more writes.
func TestBatchLoneWriterNeverLingers(t *testing.T) {
	s := openBatched(t)
	for i := range 50 {
		if err := s.tx(t.Context(), insertRawWrite(t.Context(), fmt.Sprint("lone", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() {
				if err := s.tx(t.Context(), insertRawWrite(t.Context(), fmt.Sprint("pair", i, w))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := s.batch.lingers.Load(); n != 0 {
		t.Errorf("the leader lingered %d times for one or two writers", n)
	}
}

// TestBatchLingersAfterABigBatch: after a batch of lingerAfter writes, a
// leader with fewer than lingerFor queued waits for more once, then
// commits what it has.
func TestBatchLingersAfterABigBatch(t *testing.T) {
	s := openBatched(t)
	s.batch.mu.Lock()
	s.batch.lastBatch = lingerAfter // as after a batch of many writers
	s.batch.mu.Unlock()
	if err := s.tx(t.Context(), insertRawWrite(t.Context(), "after-big")); err != nil {
		t.Fatal(err)
	}
	if n := s.batch.lingers.Load(); n != 1 {
		t.Errorf("lingered %d times, want 1", n)
	}
	var got int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM raw_messages`).Scan(&got); err != nil || got != 1 {
		t.Errorf("%d rows (%v), want 1", got, err)
	}
	// The batch it committed held one write: the next lone write does not wait.
	if err := s.tx(t.Context(), insertRawWrite(t.Context(), "after-small")); err != nil {
		t.Fatal(err)
	}
	if n := s.batch.lingers.Load(); n != 1 {
		t.Errorf("lingered %d times after a batch of one, want still 1", n)
	}
}
