package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/caliopen/functions/internal/datalock"
)

// lockDataDir takes the lock of the data directory (package datalock), so
// that a second local system started on the same directory, or
// caliopen-admin writing to it, fails at once instead of sharing its SQLite
// file and JetStream store.
func lockDataDir(dir string) (release func(), err error) {
	release, err = datalock.Take(dir)
	if errors.Is(err, datalock.ErrInUse) {
		return nil, fmt.Errorf("data directory %s is in use by another local system (lock %s held); stop it or pick another -data",
			dir, filepath.Join(dir, datalock.Name))
	}
	return release, err
}
