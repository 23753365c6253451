package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockName is the lock file in the data directory.
const lockName = "lock"

// lockDataDir takes an exclusive lock on dir (flock on dir/lock), so that a
// second local system started on the same directory fails at once instead
// of sharing its SQLite file and JetStream store. The lock lasts until
// release is called or the process ends (the kernel drops it even on
// kill -9, so a crash leaves no stale lock behind).
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another local system (lock %s held); stop it or pick another -data", dir, path)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
