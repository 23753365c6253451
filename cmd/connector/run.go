package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/httplimit"
	"github.com/caliopen/functions/internal/tracing"
)

// run wires the connector from the environment and serves until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := connector.LoadConfig(getenv)
	tcfg, terr := tracing.LoadConfig(getenv, "connector")
	if err := errors.Join(err, terr); err != nil {
		return err
	}
	tp, shutdown, err := tracing.Open(ctx, tcfg)
	if err != nil {
		return err
	}
	defer shutdown(context.WithoutCancel(ctx))
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: parseLevel(cfg.LogLevel)}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c, err := connector.New(cfg, connector.Deps{Logger: logger, Registry: reg, Contract: contract.Caliopen(), Tracing: tp})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	limits := httplimit.Default()
	srv := limits.Server(c.AdminHandler(reg), slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	ln = limits.Listener(ln)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin server stopped", "err", err)
		}
	}()
	logger.Info("admin endpoints listening", "addr", ln.Addr().String())
	runErr := c.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return runErr
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}
