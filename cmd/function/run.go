package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/procs"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/tracing"
)

// Environment read here besides fnhttp.LoadConfig's.
const (
	// envPort is the port to serve on (not "port", which the watchdog reads for its own listener). Default 8082: of-watchdog in http mode
	// forwards to upstream_url http://127.0.0.1:8082. 0 picks a free port.
	envPort     = "FUNCTION_PORT"
	defaultPort = 8082
	// envHost is the address to serve on; default every interface (a
	// container's). The local system's process isolation sets its own.
	envHost = "FUNCTION_HOST"
)

// run serves the function named by FUNCTION from the registry until ctx ends
// or SIGTERM/SIGINT arrives. Logs are JSON lines on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return serve(ctx, args, getenv, stdout, functions.All())
}

// serve is run with the registry passed in, so tests can serve a fake.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, specs []functions.Spec) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	c := contract.Caliopen()
	cfg, err := loadConfig(args, getenv, c, specs)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	procs.ForFileIO(getenv, cfg.platform.LocalFiles())
	deps, err := platform.Open(ctx, cfg.platform, cfg.keyring, logger)
	if err != nil {
		return fmt.Errorf("function %s: %w", cfg.spec.Name, err)
	}
	defer deps.Close()
	tp, shutdown, err := tracing.Open(ctx, cfg.tracing)
	if err != nil {
		return fmt.Errorf("function %s: %w", cfg.spec.Name, err)
	}
	defer shutdown(context.WithoutCancel(ctx))
	cfg.fn.Tracing = tp
	if tp != nil {
		deps.Blobs = blob.Traced(deps.Blobs)
	}
	env := functions.Env{Getenv: getenv, Logger: logger, Contract: c, Store: deps.Store, Blobs: deps.Blobs,
		Emitter: deps.Emitter, Keyring: deps.Keyring, InvokeKeys: cfg.fn.Keys, Tracing: cfg.fn.Tracing}
	var h http.Handler
	if cfg.spec.HTTP != nil {
		h, err = cfg.spec.HTTP(env)
	} else {
		var core fnhttp.Core
		if core, err = cfg.spec.Build(env); err == nil {
			h = fnhttp.New(cfg.fn, c, core, logger)
		}
	}
	if err != nil {
		return fmt.Errorf("build function %s: %w", cfg.spec.Name, err)
	}
	if cfg.spec.Orders {
		relay := outbox.New(outbox.Config{}, deps.Store, deps.Emitter, logger.With("fn", cfg.spec.Name, "part", "outbox"))
		defer startAfter(ctx, relayFirstLook, relay.Start)()
	}
	return fnhttp.ListenAndServe(ctx, cfg.addr, h, logger.With("fn", cfg.spec.Name))
}

// config is the entrypoint's whole configuration.
type config struct {
	fn       fnhttp.Config
	spec     functions.Spec
	addr     string
	platform platform.Config
	keyring  *secrets.Keyring
	tracing  tracing.Config
}

// loadConfig reads and checks the configuration, reporting every problem at
// once.
func loadConfig(args []string, getenv func(string) string, c *contract.Contract, specs []functions.Spec) (config, error) {
	var cfg config
	var errs []error
	if len(args) > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: configure with environment variables", args))
	}
	fn, err := fnhttp.LoadConfig(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.fn = fn
	if fn.Function != "" {
		spec, ok := lookup(specs, fn.Function)
		if !ok {
			errs = append(errs, fmt.Errorf("%s=%q is not a registered function (registered: %s; the contract names: %s)",
				fnhttp.EnvFunction, fn.Function, names(specs), strings.Join(c.Functions(), ", ")))
		}
		cfg.spec = spec
		if spec.HTTP == nil {
			if err := fn.Validate(c); err != nil {
				errs = append(errs, err)
			}
			// Only the connector may invoke a NATS-triggered function.
			if cfg.fn.Keys, err = invokeauth.Load(getenv); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.platform, err = platform.LoadConfig(getenv, "caliopen-"+fn.Function); err != nil {
		errs = append(errs, err)
	}
	if cfg.keyring, err = secrets.LoadKeyring(getenv); err != nil {
		errs = append(errs, err)
	}
	if cfg.tracing, err = tracing.LoadConfig(getenv, fn.Function); err != nil {
		errs = append(errs, err)
	}
	port := defaultPort
	if v := strings.TrimSpace(getenv(envPort)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s=%q: want a TCP port number", envPort, v))
		}
		port = n
	}
	cfg.addr = net.JoinHostPort(strings.TrimSpace(getenv(envHost)), strconv.Itoa(port))
	return cfg, errors.Join(errs...)
}

func lookup(specs []functions.Spec, name string) (functions.Spec, bool) {
	for _, s := range specs {
		if s.Name == name {
			return s, true
		}
	}
	return functions.Spec{}, false
}

func names(specs []functions.Spec) string {
	if len(specs) == 0 {
		return "none yet, see functions/functions.go"
	}
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return strings.Join(out, ", ")
}

// relayFirstLook is how long after the start the outbox relay first looks
// for orders: it only claims orders older than its grace (10 s), which a
// moment's wait changes nothing for, and the function's first call has
// the store to itself.
const relayFirstLook = time.Second

// startAfter calls start(ctx) once d has passed, unless ctx ends first;
// the function it returns stops what start started (and waits for it), or
// the wait.
func startAfter(ctx context.Context, d time.Duration, start func(context.Context) (stop func())) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	started := make(chan func(), 1)
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			started <- func() {}
		case <-t.C:
			started <- start(ctx)
		}
	}()
	return func() {
		cancel()
		(<-started)()
	}
}
