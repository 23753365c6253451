package dirblob

import (
	"os"
	"path/filepath"
	"sync"
)

// dirs makes directories once and shares directory fsyncs between
// concurrent Puts: a Put needs one fsync of its directory that starts
// after its rename, and one fsync covers every rename done before it
// started. Concurrent Puts into one directory thus wait for at most two
// fsyncs and usually share one, instead of each running its own.
type dirs struct {
	fsync func(dir string) error // syncDir; tests count the calls
	mu    sync.Mutex
	made  map[string]bool
	syncs map[string]*dirSync
}

// maxDirs bounds the directories remembered; past it they are forgotten
// (a forgotten directory costs one stat and a separate fsync, no more).
const maxDirs = 4096

// dirSync is the fsync state of one directory.
type dirSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // fsyncs started
	done    uint64 // the last fsync finished
	running bool
	err     error // of the last finished fsync
}

func newDirs() *dirs {
	return &dirs{fsync: syncDir, made: map[string]bool{}, syncs: map[string]*dirSync{}}
}

// ensure makes dir (and its parents) unless it was made before; a new
// directory's entry in its parent is synced too.
func (d *dirs) ensure(dir string) error {
	d.mu.Lock()
	made := d.made[dir]
	d.mu.Unlock()
	if made {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return err
		}
		if err := d.sync(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	d.mu.Lock()
	if len(d.made) >= maxDirs {
		d.made = map[string]bool{}
	}
	d.made[dir] = true
	d.mu.Unlock()
	return nil
}

// forget drops dir from the directories known to exist (it was removed
// behind the store's back).
func (d *dirs) forget(dir string) {
	d.mu.Lock()
	delete(d.made, dir)
	d.mu.Unlock()
}

// sync returns once an fsync of dir that started after the call has
// finished, with that fsync's error.
func (d *dirs) sync(dir string) error {
	d.mu.Lock()
	s := d.syncs[dir]
	if s == nil {
		if len(d.syncs) >= maxDirs {
			d.syncs = map[string]*dirSync{}
		}
		s = &dirSync{}
		s.cond = sync.NewCond(&s.mu)
		d.syncs[dir] = s
	}
	d.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.started + 1 // a running fsync may have missed our rename
	for s.done < want {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := d.fsync(dir)
		s.mu.Lock()
		s.running, s.done, s.err = false, n, err
		s.cond.Broadcast()
	}
	return s.err
}
