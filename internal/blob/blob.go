// Package blob stores opaque byte objects (raw messages, attachments, sent
// copies) under string keys, behind one small interface with two
// implementations: a local directory (package dirblob, the embedded
// default) and S3 (package s3blob, the cluster store).
//
// Failure semantics: Get and Stat of a missing key return an error that
// matches ErrNotFound; Delete of a missing key succeeds, so deleting is
// idempotent. A key that ValidKey rejects gives ErrInvalidKey before any
// I/O. Put is all or nothing: when it fails (the reader fails, yields more
// or fewer bytes than announced, or the context ends) the key keeps its
// previous content, or stays absent. Other errors come from the disk or the
// network and are worth retrying; implementations do not retry beyond what
// their client library does.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Store keeps objects under keys.
type Store interface {
	// Put stores the bytes of r under key, replacing any previous object.
	// size is the exact number of bytes r yields, or -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object under key; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the object under key.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object under key, if any.
	Delete(ctx context.Context, key string) error
}

// Sized is implemented by the readers Get returns when the object's size
// is known once it is open (a file's, an S3 object's Content-Length): a
// caller sizes its buffer with it, or refuses an object over its limit
// before reading it.
type Sized interface {
	Size() int64
}

// InMemory is implemented by the readers Get returns for an object held
// in memory (Recent's): Bytes is the whole object, shared with the
// store's memory, so the caller reads it without a copy and changes
// nothing in it.
type InMemory interface {
	Bytes() []byte
}

// SizeOf returns the size of object r that Get opened, or -1 when its
// store did not say.
func SizeOf(r io.Reader) int64 {
	if s, ok := r.(Sized); ok {
		return s.Size()
	}
	return -1
}

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

var (
	// ErrNotFound reports a key that holds no object.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey reports a key that ValidKey rejects.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrSizeMismatch reports a reader that yields more or fewer bytes than
	// the size given to Put.
	ErrSizeMismatch = errors.New("blob: size mismatch")
)

// MaxKeyLen is the longest key in bytes (S3's limit).
const MaxKeyLen = 1024

// ValidKey checks that key is a relative slash-separated path that is safe as
// a file path and as an S3 key: 1 to MaxKeyLen bytes of UTF-8 without
// control characters or backslashes; no empty segment (so no leading,
// trailing or double slash); no segment that starts with a dot (which rules
// out "." and ".." and keeps temporary files apart).
func ValidKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	case strings.ContainsAny(key, "\\"):
		return bad("backslash")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return bad("control character")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" {
			return bad("empty path segment")
		}
		if seg[0] == '.' {
			return bad("path segment starts with a dot")
		}
	}
	return nil
}

// CopyExact copies r to w. When size >= 0 it requires r to yield exactly size
// bytes and returns ErrSizeMismatch otherwise; when size < 0 it copies until
// EOF. It stops early when ctx ends.
func CopyExact(ctx context.Context, w io.Writer, r io.Reader, size int64) (int64, error) {
	r = ctxReader{ctx: ctx, r: r}
	if size < 0 {
		return io.Copy(w, r)
	}
	n, err := io.CopyN(w, r, size)
	if errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: got %d bytes, want %d", ErrSizeMismatch, n, size)
	}
	if err != nil {
		return n, err
	}
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	if m > 0 {
		return n, fmt.Errorf("%w: more than %d bytes", ErrSizeMismatch, size)
	}
	if !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, nil
}

// ctxReader fails reads once its context has ended.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Lister is implemented by stores that can enumerate their objects (both
// of the project's): List calls fn for each object whose key begins with
// prefix, in no particular order, and stops at fn's first error. Objects
// put or deleted during the listing may or may not be seen.
type Lister interface {
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// ErrTooLarge is returned by ReadLimited for an object over its limit.
var ErrTooLarge = errors.New("blob: object over the size limit")

// ReadLimited reads the object under key whole, refusing one of more than
// max bytes with ErrTooLarge: before reading when the store says its size,
// after max+1 bytes otherwise. A missing object gives ErrNotFound. An
// object held in memory (InMemory) is returned without a copy: the caller
// changes nothing in the bytes.
func ReadLimited(ctx context.Context, s Store, key string, max int64) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size := SizeOf(rc)
	if size > max {
		return nil, fmt.Errorf("%s: %w", key, ErrTooLarge)
	}
	var b []byte
	if m, ok := rc.(InMemory); ok {
		b = m.Bytes()
	} else if size >= 0 {
		// Read at once into a buffer of the stated size, with the byte
		// that finds the end (or an object grown since).
		buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
		_, err = buf.ReadFrom(io.LimitReader(rc, max+1))
		b = buf.Bytes()
	} else {
		b, err = io.ReadAll(io.LimitReader(rc, max+1))
	}
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: %w", key, ErrTooLarge)
	}
	return b, nil
}
