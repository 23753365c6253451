package blob

import (
	"context"
	"errors"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/tracing"
)

// Traced returns s with a span around each call whose context carries a
// recording span (package tracing); other calls go straight through.
func Traced(s Store) Store { return traced{s} }

type traced struct{ s Store }

func span(ctx context.Context, op, key string) (context.Context, trace.Span) {
	return tracing.Start(ctx, "blob "+op, trace.SpanKindClient, attribute.String("caliopen.blob.key", key))
}

func (t traced) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	ctx, sp := span(ctx, "put", key)
	err := t.s.Put(ctx, key, r, size)
	tracing.End(sp, err)
	return err
}

func (t traced) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	ctx, sp := span(ctx, "get", key)
	rc, err := t.s.Get(ctx, key)
	tracing.End(sp, err)
	return rc, err
}

func (t traced) Stat(ctx context.Context, key string) (Info, error) {
	ctx, sp := span(ctx, "stat", key)
	i, err := t.s.Stat(ctx, key)
	tracing.End(sp, err)
	return i, err
}

func (t traced) Delete(ctx context.Context, key string) error {
	ctx, sp := span(ctx, "delete", key)
	err := t.s.Delete(ctx, key)
	tracing.End(sp, err)
	return err
}

// List lists through the wrapped store when it is a Lister.
func (t traced) List(ctx context.Context, prefix string, fn func(Info) error) error {
	l, ok := t.s.(Lister)
	if !ok {
		return errors.New("blob: the store cannot list its objects")
	}
	ctx, sp := span(ctx, "list", prefix)
	err := l.List(ctx, prefix, fn)
	tracing.End(sp, err)
	return err
}
