// Package datalock is the lock of a local system's data directory: an
// exclusive flock on DIR/lock, held by the running system (cmd/caliopen-local)
// and by any tool writing to the directory (cmd/caliopen-admin), so that no
// two of them share its SQLite file and JetStream store at once. The kernel
// drops the lock when its holder ends, even on kill -9: a crash leaves no
// stale lock behind.
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Name is the lock file in the data directory.
const Name = "lock"

// ErrInUse is returned by Take when another process holds the lock.
var ErrInUse = errors.New("in use")

// Take takes the lock of dir, which must exist, without waiting. The lock
// lasts until release is called or the process ends.
func Take(dir string) (release func(), err error) {
	path := filepath.Join(dir, Name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s: %w (lock %s held)", dir, ErrInUse, path)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
