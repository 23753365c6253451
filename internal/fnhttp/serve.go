package fnhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/caliopen/functions/internal/httplimit"
)

// Server timeouts. A function's handler extends its own write deadline to
// the call's deadline, so WriteTimeout only bounds other handlers.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 90 * time.Second
	idleTimeout       = 120 * time.Second
	// shutdownGrace is how long in-flight requests may finish after ctx
	// ends; below Kubernetes' default 30s termination grace period.
	shutdownGrace = 25 * time.Second
)

// ListenAndServe serves h on addr until ctx ends, then stops accepting
// connections and lets in-flight requests finish (for up to 25s). It returns
// nil after a graceful stop, or why it could not listen or serve.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return Serve(ctx, ln, h, logger)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	// A body read stalls at most the default body idle time; connections
	// and header bytes are bounded (package httplimit).
	limits := httplimit.Config{ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout}
	srv := limits.Server(h, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	srv.WriteTimeout = writeTimeout
	ln = limits.Listener(ln)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "grace", shutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	logger.Info("stopped")
	return nil
}
