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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/httplimit"
	"github.com/caliopen/functions/internal/natsconn"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/rawsweep"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/secretenv"
	"github.com/caliopen/functions/internal/store"
)

// run opens the store and NATS and schedules until ctx ends. It takes no
// arguments; the environment (CALIOPEN_STORE_DSN, the NATS_* variables,
// the SCHEDULER_* ones and LOG_LEVEL) configures it, and every problem is
// reported at once. With CALIOPEN_BLOB_BACKEND (and the blob store's
// variables) set, it also sweeps the raw messages nothing refers to
// (RAW_SWEEP_INTERVAL, RAW_SWEEP_MIN_AGE).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: configuration comes from the environment", args)
	}
	dsn, derr := secretenv.Value(getenv, "CALIOPEN_STORE_DSN")
	if derr == nil && strings.TrimSpace(dsn) == "" {
		derr = errors.New("CALIOPEN_STORE_DSN: required (postgres://... or sqlite:///path)")
	}
	ncfg, nerr := natsconn.LoadConfig(getenv, "scheduler")
	scfg, serr := scheduler.LoadConfig(getenv)
	wcfg, werr := rawsweep.LoadConfig(getenv)
	var pcfg platform.Config
	var perr error
	sweep := strings.TrimSpace(getenv("CALIOPEN_BLOB_BACKEND")) != "" && wcfg.Interval > 0
	if sweep {
		pcfg, perr = platform.LoadConfig(getenv, "scheduler")
	}
	if err := errors.Join(derr, nerr, serr, werr, perr); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(getenv("LOG_LEVEL"))))); err != nil {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("fn", "scheduler")
	st, err := store.Open(ctx, strings.TrimSpace(dsn))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	nc, err := ncfg.Connect(logger, nil)
	if err != nil {
		return err
	}
	defer nc.Drain()
	em, err := emit.New(nc)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	s, err := scheduler.New(scfg, scheduler.Deps{Store: st, Sender: scheduler.NATSSender{Emitter: em},
		Logger: logger, Metrics: scheduler.NewMetrics(reg)})
	if err != nil {
		return err
	}
	if scfg.HTTPAddr != "" {
		stopHTTP, err := serveHTTP(scfg, s, reg, logger)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	if sweep {
		blobs, err := platform.OpenBlobs(ctx, pcfg)
		if err != nil {
			return err
		}
		lister, ok := blobs.(rawsweep.Blobs)
		if !ok {
			return fmt.Errorf("blob store %T cannot list its objects", blobs)
		}
		go rawsweep.Run(ctx, wcfg, st, lister, logger.With("part", "raw-sweep"))
	}
	// The scheduler is always on: its relay publishes the orders that a
	// function process wrote and could not publish before it stopped
	// (scaled to zero, crashed), so they do not wait for its next start.
	defer outbox.New(outbox.Config{}, st, em, logger.With("part", "outbox")).Start(ctx)()
	logger.Info("scheduling", "tick", scfg.Tick.String(), "http", scfg.HTTPAddr, "raw_sweep", sweep)
	return s.Run(ctx)
}

// serveHTTP serves /healthz (a tick read the store lately) and /metrics.
func serveHTTP(cfg scheduler.Config, s *scheduler.Scheduler, reg *prometheus.Registry, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	maxAge := 3*cfg.Tick + 30*time.Second
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Healthy(maxAge) {
			http.Error(w, "no tick read the store within "+maxAge.String(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	limits := httplimit.Default()
	srv := limits.Server(mux, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	ln = limits.Listener(ln)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err.Error())
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
