package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/caliopen/functions/internal/tracing"
)

// Object is one object of a batch: its key and its bytes.
type Object struct {
	Key  string
	Data []byte
}

// Batcher is implemented by stores that write several objects with one
// durability barrier for the lot (package dirblob: the files' data synced
// together, the directory once): PutBatch returns nil once every object is
// stored as Put would have stored it, durable as a completed Put is. On an
// error, each object is either stored or absent (or keeps its previous
// content); the caller writes the batch again. The store may keep the
// objects' bytes (package blob's Recent does): the caller does not change
// them afterwards.
type Batcher interface {
	PutBatch(ctx context.Context, objs []Object) error
}

// PutAll stores objs in s: with one PutBatch when s is a Batcher, else
// one Put each, putters at a time (an S3 store's round trips overlap), and
// returns their failures. The caller does not change the objects' bytes
// afterwards (see Batcher).
func PutAll(ctx context.Context, s Store, objs []Object) error {
	if len(objs) == 0 {
		return nil
	}
	if b, ok := s.(Batcher); ok {
		return b.PutBatch(ctx, objs)
	}
	errs := make([]error, len(objs))
	sem := make(chan struct{}, putters)
	var wg sync.WaitGroup
	for i, o := range objs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.Put(ctx, o.Key, bytes.NewReader(o.Data), int64(len(o.Data)))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// putters is how many Puts PutAll runs at once on a store without
// PutBatch.
const putters = 16

// PutBatch stores the objects in the wrapped store (one batch when it is a
// Batcher) and, once it has them, keeps those under the prefix: their bytes
// themselves, which the caller does not change (see Batcher).
func (r *Recent) PutBatch(ctx context.Context, objs []Object) error {
	if err := PutAll(ctx, r.Store, objs); err != nil {
		for _, o := range objs {
			r.forget(o.Key) // the store may keep the object it had, or none
		}
		return err
	}
	for _, o := range objs {
		if r.keeps(o.Key, int64(len(o.Data))) {
			r.keep(o.Key, o.Data)
		}
	}
	return nil
}

// PutBatch writes the batch in one span.
func (t traced) PutBatch(ctx context.Context, objs []Object) error {
	key := ""
	if len(objs) > 0 {
		key = objs[0].Key
	}
	ctx, sp := span(ctx, "put batch", key)
	err := PutAll(ctx, t.s, objs)
	tracing.End(sp, err)
	return err
}

// CheckBatch checks every key of objs (ValidKey) and that no key comes
// twice, before a Batcher writes anything.
func CheckBatch(objs []Object) error {
	seen := make(map[string]bool, len(objs))
	var errs []error
	for _, o := range objs {
		if err := ValidKey(o.Key); err != nil {
			errs = append(errs, err)
		}
		if seen[o.Key] {
			errs = append(errs, fmt.Errorf("%w %q: twice in one batch", ErrInvalidKey, o.Key))
		}
		seen[o.Key] = true
	}
	return errors.Join(errs...)
}
