package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/procs"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/tracing"
)

// drainTimeout bounds the wait for sessions in progress at shutdown.
const drainTimeout = 30 * time.Second

// run opens the shared dependencies and serves until ctx ends. It takes no
// arguments; the environment (platform's variables, the SMTP_* ones and
// LOG_LEVEL) configures it, and every problem is reported at once.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: configuration comes from the environment", args)
	}
	pcfg, perr := platform.LoadConfig(getenv, "smtp-listener")
	lcfg, lerr := smtplistener.LoadConfig(getenv)
	tcfg, terr := tracing.LoadConfig(getenv, "smtp-listener")
	if err := errors.Join(perr, lerr, terr); err != nil {
		return err
	}
	tp, shutdown, err := tracing.Open(ctx, tcfg)
	if err != nil {
		return err
	}
	defer shutdown(context.WithoutCancel(ctx))
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(strings.TrimSpace(getenv("LOG_LEVEL"))))); err != nil {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level})).With("fn", "smtp-listener")
	procs.ForFileIO(getenv, pcfg.LocalFiles())
	deps, err := platform.Open(ctx, pcfg, nil, logger)
	if err != nil {
		return err
	}
	defer deps.Close()
	if tp != nil {
		deps.Blobs = blob.Traced(deps.Blobs)
	}
	l, err := smtplistener.New(lcfg, smtplistener.Deps{Directory: deps.Store, Raws: deps.Store, Blobs: deps.Blobs,
		Requester: deps.Emitter, Logger: logger, Tracing: tp})
	if err != nil {
		return err
	}
	smtpLn, lmtpLn, err := listen(lcfg)
	if err != nil {
		return err
	}
	attrs := []any{"smtp", smtpLn.Addr().String(), "tls", lcfg.TLS != nil}
	if lmtpLn != nil {
		attrs = append(attrs, "lmtp", lmtpLn.Addr().String())
	}
	logger.Info("listening", attrs...)
	return l.Serve(ctx, smtpLn, lmtpLn, drainTimeout)
}

// listen opens the SMTP listener and, when configured, the LMTP one.
func listen(cfg smtplistener.Config) (net.Listener, net.Listener, error) {
	smtpLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	if cfg.LMTPAddr == "" {
		return smtpLn, nil, nil
	}
	lmtpLn, err := net.Listen("tcp", cfg.LMTPAddr)
	if err != nil {
		smtpLn.Close()
		return nil, nil, fmt.Errorf("listen %s: %w", cfg.LMTPAddr, err)
	}
	return smtpLn, lmtpLn, nil
}
