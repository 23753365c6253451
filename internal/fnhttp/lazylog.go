package fnhttp

import (
	"context"
	"log/slog"
	"sync"
)

// withDeferred is logger.With(attrs...), except that the attributes are
// formatted only once a line is written: the call's logger is made for
// every invocation, and most cores write nothing with it.
func withDeferred(logger *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	return slog.New(&deferredAttrs{next: logger.Handler(), attrs: attrs})
}

// deferredAttrs is a handler holding attributes for next until it is used.
type deferredAttrs struct {
	next  slog.Handler
	attrs []slog.Attr
	once  sync.Once
	with  slog.Handler // next with attrs, made at the first use
}

func (d *deferredAttrs) handler() slog.Handler {
	d.once.Do(func() { d.with = d.next.WithAttrs(d.attrs) })
	return d.with
}

func (d *deferredAttrs) Enabled(ctx context.Context, l slog.Level) bool {
	return d.next.Enabled(ctx, l)
}

func (d *deferredAttrs) Handle(ctx context.Context, r slog.Record) error {
	return d.handler().Handle(ctx, r)
}

func (d *deferredAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &deferredAttrs{next: d.next, attrs: append(d.attrs[:len(d.attrs):len(d.attrs)], attrs...)}
}

func (d *deferredAttrs) WithGroup(name string) slog.Handler { return d.handler().WithGroup(name) }
