// Package dirblob is a blob.Store in a local directory: the key a/b/c is
// the file ROOT/a/b/c.
//
// Put writes a temporary file next to the target, fsyncs it, renames it into
// place and fsyncs the directory, so a crash leaves either the old or the
// new object, never a torn one, and a completed Put survives a power loss.
// Concurrent Puts into one directory share its fsyncs (see dirs).
// Temporary files start with ".tmp-", a name no valid key can take; a crash
// may leave some behind. Keys are checked with blob.ValidKey, so no key
// reaches outside ROOT.
package dirblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/caliopen/functions/internal/blob"
)

// Store is a blob.Store in a directory. It is safe for concurrent use; of
// concurrent Puts to one key, the last rename wins.
type Store struct {
	root string
	dirs *dirs
}

var _ blob.Store = (*Store)(nil)

// New returns a store rooted at dir, creating dir if needed.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("dirblob: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("dirblob: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("dirblob: %w", err)
	}
	return &Store{root: abs, dirs: newDirs()}, nil
}

// path returns the file of key, after checking the key.
func (s *Store) path(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put stores r under key atomically (see the package comment).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := s.dirs.ensure(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if errors.Is(err, fs.ErrNotExist) { // removed since: make it again
		s.dirs.forget(dir)
		if err = s.dirs.ensure(dir); err == nil {
			tmp, err = os.CreateTemp(dir, ".tmp-")
		}
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := writeSynced(ctx, tmp, r, size); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.dirs.sync(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// writeSynced copies r into f, fsyncs and closes f.
func writeSynced(ctx context.Context, f *os.File, r io.Reader, size int64) error {
	if _, err := blob.CopyExact(ctx, f, r, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get opens the file of key.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, notFound(err))
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotFound)
	}
	return f, nil
}

// Stat describes the file of key.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	p, err := s.path(key)
	if err != nil {
		return blob.Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, notFound(err))
	}
	if !st.Mode().IsRegular() {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, blob.ErrNotFound)
	}
	return blob.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the file of key; a missing one is not an error. Emptied
// directories are left in place.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if st, err := os.Lstat(p); err == nil && st.IsDir() {
		return nil // a key prefix, not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// notFound maps "no such file" (and "a/b where a is a file") to
// blob.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, os.ErrInvalid) || isNotDir(err) {
		return fmt.Errorf("%w: %w", blob.ErrNotFound, err)
	}
	return err
}
