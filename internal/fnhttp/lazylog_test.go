package fnhttp

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestWithDeferred: a logger with deferred attributes writes what With
// writes, through further With and WithGroup calls too.
func TestWithDeferred(t *testing.T) {
	attrs := []slog.Attr{slog.String("subject", "contactAction"), slog.String("corr_id", "c1")}
	for _, tc := range []struct {
		name string
		use  func(*slog.Logger)
	}{
		{"line", func(l *slog.Logger) { l.Info("m", "k", 1) }},
		{"two lines", func(l *slog.Logger) { l.Info("a"); l.Warn("b", "k", "v") }},
		{"with", func(l *slog.Logger) { l.With("x", 2).Info("m"); l.Info("n") }},
		{"group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "k", 3) }},
		{"below the level", func(l *slog.Logger) { l.Debug("m") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got bytes.Buffer
			base := func(b *bytes.Buffer) *slog.Logger {
				return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{
					ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
						if a.Key == slog.TimeKey {
							return slog.Attr{}
						}
						return a
					}})).With("fn", "contact-action")
			}
			tc.use(base(&want).With(slog.String("subject", "contactAction"), slog.String("corr_id", "c1")))
			tc.use(withDeferred(base(&got), attrs...))
			if got.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", got.String(), want.String())
			}
		})
	}
}
