package blob

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"sync"
)

// Recent is a Store that keeps in memory the objects last put under
// prefix, up to max bytes, and serves a Get of one of them without
// reading the store. It is for keys that only this process writes, through
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

	mu    sync.Mutex
	objs  map[string]keptObj
	order []keptRef // oldest first; an entry whose seq is not its object's is stale
	seq   uint64
	size  int64
}

type keptObj struct {
	b   []byte
	seq uint64
}

type keptRef struct {
	key string
	seq uint64
}

// NewRecent wraps s, keeping up to max bytes of the objects put under
// prefix.
func NewRecent(s Store, prefix string, max int64) *Recent {
	return &Recent{Store: s, prefix: prefix, max: max, objs: map[string]keptObj{}}
}

// Put stores the object in s and, once s has it, keeps a copy.
func (r *Recent) Put(ctx context.Context, key string, rd io.Reader, size int64) error {
	if !strings.HasPrefix(key, r.prefix) || size < 0 || size > r.max/8 {
		return r.Store.Put(ctx, key, rd, size)
	}
	var buf bytes.Buffer
	buf.Grow(int(size) + 1) // the store reads one byte more to check the size
	if err := r.Store.Put(ctx, key, io.TeeReader(rd, &buf), size); err != nil {
		return err
	}
	if int64(buf.Len()) == size { // s checked the size: anything else is a bug, not kept
		r.keep(key, buf.Bytes())
	}
	return nil
}

// Get serves a kept object from memory, others from s.
func (r *Recent) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	r.mu.Lock()
	o, ok := r.objs[key]
	r.mu.Unlock()
	if ok {
		return kept{bytes.NewReader(o.b)}, nil
	}
	return r.Store.Get(ctx, key)
}

// Delete forgets the object and deletes it from s.
func (r *Recent) Delete(ctx context.Context, key string) error {
	r.mu.Lock()
	r.forget(key)
	r.mu.Unlock()
	return r.Store.Delete(ctx, key)
}

func (r *Recent) keep(key string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forget(key)
	r.seq++
	r.objs[key] = keptObj{b: b, seq: r.seq}
	r.order = append(r.order, keptRef{key: key, seq: r.seq})
	r.size += int64(len(b))
	for r.size > r.max && len(r.order) > 0 {
		oldest := r.order[0]
		r.order = r.order[1:]
		if r.current(oldest) {
			r.forget(oldest.key)
		}
	}
	if len(r.order) > 2*len(r.objs)+64 { // stale entries of deleted objects
		r.order = slices.DeleteFunc(r.order, func(k keptRef) bool { return !r.current(k) })
	}
}

// current says whether k is the entry of its key's kept object.
func (r *Recent) current(k keptRef) bool {
	o, ok := r.objs[k.key]
	return ok && o.seq == k.seq
}

// forget drops key's object; r.mu is held.
func (r *Recent) forget(key string) {
	if o, ok := r.objs[key]; ok {
		delete(r.objs, key)
		r.size -= int64(len(o.b))
	}
}

// kept is a kept object opened for reading; it knows its size (Sized).
type kept struct{ *bytes.Reader }

func (kept) Close() error { return nil }

func (k kept) Size() int64 { return k.Reader.Size() }
