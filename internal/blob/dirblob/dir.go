// Package dirblob is a blob.Store in a local directory: the key a/b/c is
// the file ROOT/a/b/c.
//
// Put writes the object into a file that has no name yet (O_TMPFILE, where
// the system and file system have it), fsyncs it, links it into place and
// fsyncs the directory, so a crash leaves either the old or the new
// object, never a torn one, and a completed Put survives a power loss. An
// existing object is replaced through a temporary name and a rename.
// Without O_TMPFILE the file is written under a temporary name and renamed
// into place. Concurrent Puts into one directory share its fsyncs (see
// dirs). Temporary names start with ".tmp-", a name no valid key can take;
// a crash may leave some behind (never with O_TMPFILE and a new key).
// Keys are checked with blob.ValidKey, so no key reaches outside ROOT.
package dirblob

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/caliopen/functions/internal/blob"
)

// Store is a blob.Store in a directory. It is safe for concurrent use; of
// concurrent Puts to one key, the last rename wins.
type Store struct {
	root string
	dirs *dirs
	// unnamed says whether O_TMPFILE files can be made and linked under
	// root: probed at the first write, so that a process that only reads
	// (or a start) pays no file created and removed.
	unnamed func() bool
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
	return &Store{root: abs, dirs: newDirs(), unnamed: sync.OnceValue(func() bool { return canLinkUnnamed(abs) })}, nil
}

// canLinkUnnamed says whether an unnamed file made in dir can be given a
// name: the system and the file system have O_TMPFILE, and /proc is there.
func canLinkUnnamed(dir string) bool {
	f, err := openUnnamed(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	probe := filepath.Join(dir, ".tmp-probe-"+rand.Text())
	if err := link(f, probe); err != nil {
		return false
	}
	return os.Remove(probe) == nil
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
	f, err := s.createIn(dir)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	place := placeNamed
	if s.unnamed() {
		place = placeUnnamed
	}
	if err := place(ctx, f, dir, p, r, size); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.dirs.sync(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// createIn makes dir if needed and opens a file to write there (create).
func (s *Store) createIn(dir string) (*os.File, error) {
	if err := s.dirs.ensure(dir); err != nil {
		return nil, err
	}
	f, err := s.create(dir)
	if errors.Is(err, fs.ErrNotExist) { // the directory was removed since: make it again
		s.dirs.forget(dir)
		if err = s.dirs.ensure(dir); err == nil {
			f, err = s.create(dir)
		}
	}
	return f, err
}

// create opens the file a Put writes: unnamed, or under a temporary name.
func (s *Store) create(dir string) (*os.File, error) {
	if s.unnamed() {
		return openUnnamed(dir)
	}
	return os.CreateTemp(dir, ".tmp-")
}

// placeNamed writes r into f (a file under a temporary name in dir),
// fsyncs it and renames it to p.
func placeNamed(ctx context.Context, f *os.File, dir, p string, r io.Reader, size int64) error {
	err := writeSynced(ctx, f, r, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// placeUnnamed writes r into f (an unnamed file in dir), fsyncs it and
// links it as p; an existing p is replaced through a temporary name.
func placeUnnamed(ctx context.Context, f *os.File, dir, p string, r io.Reader, size int64) error {
	defer f.Close()
	if err := writeSynced(ctx, f, r, size); err != nil {
		return err
	}
	return linkUnnamed(f, dir, p)
}

// linkUnnamed links the unnamed file f in dir as p; an existing p is
// replaced through a temporary name.
func linkUnnamed(f *os.File, dir, p string) error {
	err := link(f, p)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Replace p: link under a random temporary name, rename over p.
	tmp := filepath.Join(dir, ".tmp-"+rand.Text())
	if err := link(f, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeSynced copies r into f and fsyncs f.
func writeSynced(ctx context.Context, f *os.File, r io.Reader, size int64) error {
	if _, err := blob.CopyExact(ctx, f, r, size); err != nil {
		return err
	}
	return f.Sync()
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
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotFound)
	}
	return sizedFile{f, st.Size()}, nil
}

// sizedFile is an open blob that knows its size (blob.Sized).
type sizedFile struct {
	*os.File
	size int64
}

func (f sizedFile) Size() int64 { return f.size }

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

// List calls fn for every file under the directory of prefix whose key
// begins with prefix (see blob.Lister); files being written (not yet
// named) are not objects and are skipped.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) || blob.ValidKey(key) != nil {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return fn(blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}
