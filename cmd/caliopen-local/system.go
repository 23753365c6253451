package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/procs"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
	"github.com/caliopen/functions/system"
)

// run starts the system, prints where each part listens, and stops it
// cleanly when ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set printed the usage; asking for it is no failure
	}
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	// Records and blobs are local files here, and one heap serves all.
	logger.Info("runtime sized for the whole system", "gomaxprocs", procs.ForFileIO(getenv, true),
		"gogc", procs.ForWholeSystem(getenv))
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	tcfg, err := tracing.LoadConfig(getenv, "caliopen-local")
	if err != nil {
		return err
	}
	tp, shutdownTracing, err := tracing.Open(ctx, tcfg)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(sctx); err != nil {
			logger.Warn("tracing shutdown", "err", err)
		}
	}()
	scfg := system.Config{DataDir: cfg.DataDir, Host: cfg.Host, NATSPort: cfg.NATSPort,
		GatewayPort: cfg.GatewayPort, KeysFile: cfg.KeysFile, Getenv: getenv, Logger: logger,
		SMTP: true, SMTPPort: cfg.SMTPPort, Scheduler: true, Admin: true, AdminPort: cfg.AdminPort, Tracing: tp}
	if cfg.Isolation == isolationProcess {
		scfg.Process = &system.Process{FunctionBin: cfg.FunctionBin, IdleTimeout: cfg.IdleTimeout, Echo: cfg.echo}
	}
	sys, err := system.Start(ctx, scfg)
	if err != nil {
		return flagNames(err)
	}
	admin, err := ensureAdmin(ctx, getenv, sys.Deps.Store, cfg.AdminPassword)
	if err != nil {
		return errors.Join(err, sys.Stop())
	}
	printSummary(stdout, cfg, sys, admin)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return sys.Stop()
}

// flagNames names the flag of a port the system could not listen on.
func flagNames(err error) error {
	if pe, ok := errors.AsType[*system.PortError](err); ok {
		return fmt.Errorf("-%s-port %d: %w (pick another port, or 0 for any free one)", pe.Part, pe.Port, pe.Err)
	}
	return err
}

// ensureAdmin returns the admin user's name (from CALIOPEN_ADMIN_NAME,
// default admin) when it exists, creating it first when a password is
// given; an existing admin keeps its password. Without a password and
// without an admin it returns "".
func ensureAdmin(ctx context.Context, getenv func(string) string, st *store.SQL, password string) (string, error) {
	apiCfg, err := api.LoadConfig(getenv)
	if err != nil {
		return "", err
	}
	name := cmp.Or(apiCfg.AdminName, api.DefaultAdminName)
	if _, err := st.GetUserByName(ctx, name); err == nil {
		return name, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("look up the admin: %w", err)
	}
	if password == "" {
		return "", nil
	}
	acc, err := accounts.New(accounts.Config{LocalDomain: cmp.Or(apiCfg.LocalDomain, api.DefaultLocalDomain)}, st)
	if err != nil {
		return "", err
	}
	if _, _, err := acc.CreateUser(ctx, accounts.NewUser{Name: name, Password: password, IsAdmin: true}); err != nil {
		return "", fmt.Errorf("create the admin: %w", err)
	}
	return name, nil
}

func printSummary(w io.Writer, cfg config, s *system.System, admin string) {
	fns := "none yet (every subject answers no_function)"
	if len(s.Functions) > 0 {
		fns = strings.Join(s.Functions, ", ")
	}
	fmt.Fprintf(w, `Caliopen Functions, local system
  NATS (JetStream)   %s   (its users' passwords in %s; caliopen order reads the operator's)
  gateway            %s   (/function/<name>, /system/functions, /metrics)
  REST API           %s/function/api/api/v2/
  SMTP               %s   (mail for local identities)
  connector metrics  %s/metrics   (/healthz, /readyz)
  data directory     %s
  functions          %s
`, s.NATSURL, filepath.Join(cfg.DataDir, natsusers.DirName), s.GatewayURL, s.GatewayURL, s.SMTPAddr, s.AdminURL, cfg.DataDir, fns)
	if s.Provider != nil {
		fmt.Fprintf(w, "  isolation          process: each function its own processes of %s, from zero replicas\n"+
			"                     faas-cli login -g %s -u admin --password-stdin < %s\n",
			cfg.FunctionBin, s.GatewayURL, filepath.Join(cfg.DataDir, "provider", "auth", "basic-auth-password"))
	}
	login := "admin"
	if admin == "" {
		fmt.Fprintf(w, `Quickstart (no admin user yet)
  create an admin:  stop, then start with CALIOPEN_ADMIN_PASSWORD=... make run,
                    or: go run ./cmd/caliopen-admin create-user -data %s -name admin -admin
`, cfg.DataDir)
	} else {
		login = admin
		fmt.Fprintf(w, "Quickstart (admin user %q exists)\n", admin)
	}
	fmt.Fprintf(w, `  the client:       go build -o bin/ ./cmd/caliopen && export PATH=$PWD/bin:$PATH
`)
	if s.GatewayURL != fmt.Sprintf("http://%s:%d", cfg.Host, defaultGatewayPort) || s.NATSURL != fmt.Sprintf("nats://%s:%d", cfg.Host, defaultNATSPort) {
		fmt.Fprintf(w, "  its addresses:    export CALIOPEN_URL=%s CALIOPEN_NATS_URL=%s CALIOPEN_DATA_DIR=%s\n", s.GatewayURL, s.NATSURL, cfg.DataDir)
	}
	fmt.Fprintf(w, `  log in:           caliopen login %s
  create a user:    caliopen user create alice
  more:             caliopen help; README.md walks through a first hour
Press Ctrl-C to stop.
`, login)
}
