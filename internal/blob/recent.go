package blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Recent is a Store that keeps in memory the objects put under prefix, up
// to max bytes (the least recently put or read leave first), and serves a
// Get of one of them without reading the store. It is for keys that only this process writes, through
// Recent (a Put replaces the copy kept): in the local system, inbound-email
// reads each raw message the SMTP listener or imap-fetch stored a moment
// before, in the same process. A write or delete by another process is
// seen once the object has left memory, which for content-addressed keys
// (the raw messages') changes at most the listener's Received header. An
// object larger than an eighth of max is not kept.
type Recent struct {
	Store
	prefix string
	max    int64

	mu   sync.Mutex
	objs *simplelru.LRU[string, []byte] // bounded by bytes (size), not by count
	size int64
}

// NewRecent wraps s, keeping up to max bytes of the objects put under
// prefix.
func NewRecent(s Store, prefix string, max int64) *Recent {
	r := &Recent{Store: s, prefix: prefix, max: max}
	// The count bound never binds: every object kept has at least a byte.
	r.objs, _ = simplelru.NewLRU[string, []byte](int(max)+1, func(_ string, b []byte) { r.size -= int64(len(b)) })
	return r
}

// Put stores the object in s and, once s has it, keeps a copy.
func (r *Recent) Put(ctx context.Context, key string, rd io.Reader, size int64) error {
	if !r.keeps(key, size) {
		return r.Store.Put(ctx, key, rd, size)
	}
	var buf bytes.Buffer
	buf.Grow(int(size) + 1) // the store reads one byte more to check the size
	if err := r.Store.Put(ctx, key, io.TeeReader(rd, &buf), size); err != nil {
		r.forget(key) // the store may keep the object it had, or none
		return err
	}
	if int64(buf.Len()) == size { // s checked the size: anything else is a bug, not kept
		r.keep(key, buf.Bytes())
	}
	return nil
}

// keeps says whether an object of size bytes under key is kept.
func (r *Recent) keeps(key string, size int64) bool {
	return strings.HasPrefix(key, r.prefix) && size > 0 && size <= r.max/8
}

// Get serves a kept object from memory, others from s.
func (r *Recent) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r.mu.Lock()
	b, ok := r.objs.Get(key)
	r.mu.Unlock()
	if ok {
		return kept{bytes.NewReader(b), b}, nil
	}
	return r.Store.Get(ctx, key)
}

// Delete forgets the object and deletes it from s.
func (r *Recent) Delete(ctx context.Context, key string) error {
	r.forget(key)
	return r.Store.Delete(ctx, key)
}

func (r *Recent) keep(key string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.objs.Remove(key) // Add would replace it without telling the size
	r.objs.Add(key, b)
	r.size += int64(len(b))
	for r.size > r.max {
		r.objs.RemoveOldest()
	}
}

func (r *Recent) forget(key string) {
	r.mu.Lock()
	r.objs.Remove(key)
	r.mu.Unlock()
}

// kept is a kept object opened for reading; it knows its size (Sized)
// and hands over its bytes without a copy (InMemory).
type kept struct {
	*bytes.Reader
	b []byte
}

// Bytes is the whole object, shared with the memory of Recent.
func (k kept) Bytes() []byte { return k.b }

func (kept) Close() error { return nil }

func (k kept) Size() int64 { return k.Reader.Size() }

// List lists the objects of the wrapped store; it fails when that store
// cannot list.
func (r *Recent) List(ctx context.Context, prefix string, fn func(Info) error) error {
	l, ok := r.Store.(Lister)
	if !ok {
		return fmt.Errorf("list %s: %T cannot list its objects", prefix, r.Store)
	}
	return l.List(ctx, prefix, fn)
}
