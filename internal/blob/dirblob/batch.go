package dirblob

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/caliopen/functions/internal/blob"
)

var _ blob.Batcher = (*Store)(nil)

// batchSyncers bounds the files of a batch fsynced at once: the disk
// serves several flushes together, and each waiting fsync holds a thread.
const batchSyncers = 8

// PutBatch stores the objects as Put does, with one barrier each for the
// lot: every file is written, then the files are fsynced together, then
// each is linked into place, then each directory is fsynced once. A crash
// leaves each object old or new, never torn (no name points to a file
// before its data is synced), and a completed PutBatch survives a power
// loss, as a completed Put does. On an error some objects may be in place,
// each whole. Keys are checked first (blob.CheckBatch): an invalid one
// writes nothing.
func (s *Store) PutBatch(ctx context.Context, objs []blob.Object) error {
	if err := blob.CheckBatch(objs); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put batch: %w", err)
	}
	type staged struct {
		f      *os.File
		dir, p string
	}
	files := make([]staged, len(objs))
	defer func() {
		for _, st := range files {
			if st.f != nil {
				st.f.Close()
				if !s.unnamed() {
					os.Remove(st.f.Name()) // already renamed when it succeeded
				}
			}
		}
	}()
	for i, o := range objs {
		p, err := s.path(o.Key)
		if err != nil {
			return err
		}
		dir := filepath.Dir(p)
		f, err := s.createIn(dir)
		if err != nil {
			return fmt.Errorf("put %s: %w", o.Key, err)
		}
		files[i] = staged{f: f, dir: dir, p: p}
		if _, err := f.Write(o.Data); err != nil {
			return fmt.Errorf("put %s: %w", o.Key, err)
		}
	}
	if err := syncAll(ctx, len(files), func(i int) error { return files[i].f.Sync() }); err != nil {
		return fmt.Errorf("put batch of %d: %w", len(objs), err)
	}
	dirs := map[string]bool{}
	for i := range files {
		st := &files[i]
		var err error
		if s.unnamed() {
			err = linkUnnamed(st.f, st.dir, st.p)
		} else if err = st.f.Close(); err == nil {
			if err = os.Rename(st.f.Name(), st.p); err == nil {
				st.f = nil // in place: nothing to remove
			}
		}
		if err != nil {
			return fmt.Errorf("put %s: %w", objs[i].Key, err)
		}
		dirs[st.dir] = true
	}
	for dir := range dirs {
		if err := s.dirs.sync(dir); err != nil {
			return fmt.Errorf("put batch of %d: %w", len(objs), err)
		}
	}
	return nil
}

// syncAll runs fn(0..n-1), batchSyncers at a time, and returns the first
// error; it stops starting new ones once ctx ends (and returns its error).
func syncAll(ctx context.Context, n int, fn func(int) error) error {
	var (
		mu    sync.Mutex
		next  int
		done  int
		first error
		wg    sync.WaitGroup
	)
	for range min(n, batchSyncers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				err := fn(i)
				mu.Lock()
				if err == nil {
					done++
				} else if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first == nil && done < n {
		first = ctx.Err()
	}
	return first
}
