package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/functions"
	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/httplimit"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/procs"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/rawsweep"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// system is the running local system.
type system struct {
	NATSURL    string
	GatewayURL string
	AdminURL   string
	SMTPAddr   string
	Functions  []string
	// Admin is the admin user's name when the system created or found it.
	Admin string

	log       *slog.Logger
	deps      *platform.Deps
	smtp      context.CancelFunc
	smtpErr   chan error
	schedStop context.CancelFunc
	schedErr  chan error
	nats      *server.Server
	nc        *nats.Conn
	conn      *connector.Connector
	asyncStop func()
	prov      *provider.Provider // -isolation=process
	servers   []*http.Server
	unlock    func() // releases the data directory's lock
	// tracing is nil unless OTEL_EXPORTER_OTLP_ENDPOINT is set; shutdown
	// flushes its spans.
	tracing  trace.TracerProvider
	shutdown func(context.Context) error
}

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
	sys, err := start(ctx, cfg, getenv, logger)
	if err != nil {
		return err
	}
	sys.printSummary(stdout, cfg)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go sys.conn.Serve(runCtx)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping…")
	return sys.stop()
}

func listen(host string, port int, flagName string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("-%s %d: %w (pick another port, or 0 for any free one)", flagName, port, err)
	}
	return ln, nil
}

// start brings every part up in order: NATS, the functions behind the
// gateway, the connector reading the gateway, the admin endpoints.
func start(ctx context.Context, cfg config, getenv func(string) string, logger *slog.Logger) (_ *system, err error) {
	sys := &system{log: logger}
	defer func() {
		if err != nil {
			sys.stop()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// Mail, credentials and the store are the user's alone.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if sys.unlock, err = lockDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	c := contract.Caliopen()
	tcfg, err := tracing.LoadConfig(getenv, "caliopen-local")
	if err != nil {
		return nil, err
	}
	if sys.tracing, sys.shutdown, err = tracing.Open(ctx, tcfg); err != nil {
		return nil, err
	}

	// Check the NATS port ourselves: the embedded server's own error is less clear.
	probe, err := listen(cfg.Host, cfg.NATSPort, "nats-port")
	if err != nil {
		return nil, err
	}
	natsPort := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	sys.nats, err = natsembed.Start(natsembed.Options{Host: cfg.Host, Port: natsPort, StoreDir: filepath.Join(cfg.DataDir, "nats")})
	if err != nil {
		return nil, err
	}
	sys.NATSURL = sys.nats.ClientURL()

	keysFile := cmp.Or(cfg.KeysFile, filepath.Join(cfg.DataDir, "secrets.keys"))
	keyring, err := platform.KeyringFile(keysFile)
	if err != nil {
		return nil, err
	}
	sys.deps, err = platform.Open(ctx, platform.Local(cfg.DataDir, sys.NATSURL, "caliopen-local-functions"), keyring, logger)
	if err != nil {
		return nil, err
	}
	if sys.tracing != nil {
		sys.deps.Blobs = blob.Traced(sys.deps.Blobs)
	}
	// The functions accept only calls the connector signed, with a key that
	// lives as long as the process.
	invokeKey := rand.Text() + rand.Text()
	invokeKeys, err := invokeauth.ParseKeys(invokeKey)
	if err != nil {
		return nil, err
	}
	env := functions.Env{Getenv: getenv, Logger: logger, Contract: c, Store: sys.deps.Store, Blobs: sys.deps.Blobs,
		Emitter: sys.deps.Emitter, Keyring: sys.deps.Keyring, InvokeKeys: invokeKeys, Tracing: sys.tracing}
	if sys.Admin, err = ensureAdmin(ctx, getenv, sys.deps.Store, cfg.AdminPassword); err != nil {
		return nil, err
	}
	gwReg := prometheus.NewRegistry()
	gwCfg := gateway.Config{WKDFunction: "api"}
	var fns []gateway.Function
	if cfg.Isolation == isolationProcess {
		if sys.prov, fns, err = startProvider(cfg, c, sys.NATSURL, keysFile, invokeKey, gwReg, logger); err != nil {
			return nil, err
		}
		gwCfg.Provider = sys.prov.Handlers()
		if gwCfg.BasicAuth, err = basicAuth(filepath.Join(cfg.DataDir, "provider", "auth")); err != nil {
			return nil, err
		}
	} else if fns, err = buildFunctions(c, env); err != nil {
		return nil, err
	}
	gw, err := gateway.New(gwCfg, fns, gwReg, logger.With("part", "gateway"))
	if err != nil {
		return nil, err
	}
	gwLn, err := listen(cfg.Host, cfg.GatewayPort, "gateway-port")
	if err != nil {
		return nil, err
	}
	sys.GatewayURL = "http://" + gwLn.Addr().String()
	// From outside, only the HTTP functions (the REST API, which
	// authenticates its users) are invocable; the connector reaches the
	// others in process.
	var public []string
	for _, spec := range functions.All() {
		if spec.HTTP != nil {
			public = append(public, spec.Name)
		}
	}
	sys.serve(gwLn, gw.Public(public...))

	sys.nc, err = nats.Connect(sys.NATSURL, nats.Name("caliopen-local-connector"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	// faas-cli invoke --async: calls go through JetStream, at least once.
	js, err := jetstream.New(sys.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if sys.asyncStop, err = gw.ServeAsync(ctx, js, gateway.DefaultAsyncConfig()); err != nil {
		return nil, err
	}
	ccfg := connector.DefaultConfig()
	ccfg.NATS.URL = sys.NATSURL
	ccfg.GatewayURL = sys.GatewayURL
	ccfg.RebuildInterval = 2 * time.Second
	ccfg.InvokeKeys = invokeKeys
	if gwCfg.BasicAuth != nil {
		ccfg.GatewayBasicAuth, ccfg.SecretMountPath = true, filepath.Join(cfg.DataDir, "provider", "auth")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sys.conn, err = connector.New(ccfg, connector.Deps{
		Logger: logger.With("part", "connector"), Registry: reg, Contract: c, Conn: sys.nc,
		// The gateway runs in this process: reach it without a socket. It
		// still lists the functions and serves /function/<name> over TCP.
		Transport: &connector.InProcess{Host: gwLn.Addr().String(), Handler: gw},
		Tracing:   sys.tracing,
	})
	if err != nil {
		return nil, err
	}
	if err := sys.conn.Start(ctx); err != nil {
		return nil, err
	}
	if err := sys.startSMTP(ctx, cfg, getenv); err != nil {
		return nil, err
	}
	if err := sys.startScheduler(ctx, getenv); err != nil {
		return nil, err
	}
	adminLn, err := listen(cfg.Host, cfg.AdminPort, "admin-port")
	if err != nil {
		return nil, err
	}
	sys.AdminURL = "http://" + adminLn.Addr().String()
	sys.serve(adminLn, sys.conn.AdminHandler(reg))
	for _, f := range fns {
		sys.Functions = append(sys.Functions, f.Name)
	}
	return sys, nil
}

// buildFunctions builds every function of the registry, annotated with its
// subjects and queue group (none for an HTTP function such as the API).
func buildFunctions(c *contract.Contract, env functions.Env) ([]gateway.Function, error) {
	var out []gateway.Function
	var errs []error
	for _, spec := range functions.All() {
		h, err := spec.Handler(env)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", spec.Name, err))
			continue
		}
		out = append(out, gateway.Function{Name: spec.Name, Handler: h, Annotations: annotations(c, spec.Name)})
	}
	return out, errors.Join(errs...)
}

// annotations are a function's subjects and queue group, as its stack.yml
// entry has them (none for an HTTP function such as the API).
func annotations(c *contract.Contract, name string) map[string]string {
	var topics []string
	queue := ""
	for _, s := range c.SubjectsOf(name) {
		topics = append(topics, s.Name)
		queue = s.Queue
	}
	ann := map[string]string{}
	if len(topics) > 0 {
		ann["topic"] = strings.Join(topics, ",")
		ann["caliopen.queue"] = queue
	}
	return ann
}

func (s *system) serve(ln net.Listener, h http.Handler) {
	// Bounded against slow and trickling clients (package httplimit).
	limits := httplimit.Default()
	srv := limits.Server(h, slog.NewLogLogger(s.log.Handler(), slog.LevelWarn))
	ln = limits.Listener(ln)
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// stop drains the connector, then stops the servers and NATS.
func (s *system) stop() error {
	var errs []error
	if s.schedStop != nil {
		s.schedStop()
		if err := <-s.schedErr; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("scheduler: %w", err))
		}
	}
	if s.smtp != nil {
		s.smtp()
		if err := <-s.smtpErr; err != nil {
			errs = append(errs, fmt.Errorf("smtp listener: %w", err))
		}
	}
	if s.asyncStop != nil {
		s.asyncStop()
	}
	if s.conn != nil {
		if err := s.conn.Drain(); err != nil {
			errs = append(errs, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.prov != nil {
		if err := s.prov.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.deps != nil {
		if err := s.deps.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
	}
	if s.shutdown != nil {
		if err := s.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("tracing: %w", err))
		}
	}
	if s.unlock != nil {
		s.unlock()
	}
	return errors.Join(errs...)
}

// startSMTP runs the SMTP listener (its limits from the SMTP_* variables)
// on the printed port; it hands each accepted mail to inbound-email through
// NATS, as the pod does.
func (s *system) startSMTP(ctx context.Context, cfg config, getenv func(string) string) error {
	lcfg, err := smtplistener.LoadConfig(getenv)
	if err != nil {
		return err
	}
	ln, err := listen(cfg.Host, cfg.SMTPPort, "smtp-port")
	if err != nil {
		return err
	}
	s.SMTPAddr = ln.Addr().String()
	lcfg.Addr = s.SMTPAddr
	l, err := smtplistener.New(lcfg, smtplistener.Deps{Directory: s.deps.Store, Raws: s.deps.Store, Blobs: s.deps.Blobs,
		Requester: s.deps.Emitter, Logger: s.log.With("part", "smtp-listener"), Tracing: s.tracing})
	if err != nil {
		ln.Close()
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.smtp, s.smtpErr = cancel, make(chan error, 1)
	go func() { s.smtpErr <- l.Serve(sctx, ln, nil, 10*time.Second) }()
	return nil
}

// startScheduler runs the scheduler pod's loop: sync orders for every
// active remote identity at its poll interval; and the sweep of raw
// messages nothing refers to (RAW_SWEEP_INTERVAL, RAW_SWEEP_MIN_AGE).
func (s *system) startScheduler(ctx context.Context, getenv func(string) string) error {
	cfg, err := scheduler.LoadConfig(getenv)
	sweep, serr := rawsweep.LoadConfig(getenv)
	if err := errors.Join(err, serr); err != nil {
		return err
	}
	cfg.HTTPAddr = ""
	sch, err := scheduler.New(cfg, scheduler.Deps{Store: s.deps.Store, Sender: scheduler.NATSSender{Emitter: s.deps.Emitter},
		Logger: s.log.With("part", "scheduler")})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.schedStop, s.schedErr = cancel, make(chan error, 1)
	// As the scheduler pod, the system relays the outbox: the orders the
	// API wrote and could not publish at once (JetStream away, a crash).
	stopRelay := outbox.New(outbox.Config{}, s.deps.Store, s.deps.Emitter, s.log.With("part", "outbox")).Start(sctx)
	go func() {
		err := sch.Run(sctx)
		stopRelay()
		s.schedErr <- err
	}()
	if blobs, ok := s.deps.Blobs.(rawsweep.Blobs); ok {
		go rawsweep.Run(sctx, sweep, s.deps.Store, blobs, s.log.With("part", "raw-sweep"))
	}
	return nil
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

func (s *system) printSummary(w io.Writer, cfg config) {
	fns := "none yet (every subject answers no_function)"
	if len(s.Functions) > 0 {
		fns = strings.Join(s.Functions, ", ")
	}
	fmt.Fprintf(w, `Caliopen Functions, local system
  NATS (JetStream)   %s
  gateway            %s   (/function/<name>, /system/functions, /metrics)
  REST API           %s/function/api/api/v2/
  SMTP               %s   (mail for local identities)
  connector metrics  %s/metrics   (/healthz, /readyz)
  data directory     %s
  functions          %s
`, s.NATSURL, s.GatewayURL, s.GatewayURL, s.SMTPAddr, s.AdminURL, cfg.DataDir, fns)
	if s.prov != nil {
		fmt.Fprintf(w, "  isolation          process: each function its own processes of %s, from zero replicas\n"+
			"                     faas-cli login -g %s -u admin --password-stdin < %s\n",
			cfg.FunctionBin, s.GatewayURL, filepath.Join(cfg.DataDir, "provider", "auth", "basic-auth-password"))
	}
	login := "admin"
	if s.Admin == "" {
		fmt.Fprintf(w, `Quickstart (no admin user yet)
  create an admin:  stop, then start with CALIOPEN_ADMIN_PASSWORD=... make run,
                    or: go run ./cmd/caliopen-admin create-user -data %s -name admin -admin
`, cfg.DataDir)
	} else {
		login = s.Admin
		fmt.Fprintf(w, "Quickstart (admin user %q exists)\n", s.Admin)
	}
	fmt.Fprintf(w, `  the client:       go build -o bin/ ./cmd/caliopen && export PATH=$PWD/bin:$PATH
`)
	if s.GatewayURL != fmt.Sprintf("http://%s:%d", cfg.Host, defaultGatewayPort) || s.NATSURL != fmt.Sprintf("nats://%s:%d", cfg.Host, defaultNATSPort) {
		fmt.Fprintf(w, "  its addresses:    export CALIOPEN_URL=%s CALIOPEN_NATS_URL=%s\n", s.GatewayURL, s.NATSURL)
	}
	fmt.Fprintf(w, `  log in:           caliopen login %s
  create a user:    caliopen user create alice
  more:             caliopen help; README.md walks through a first hour
Press Ctrl-C to stop.
`, login)
}
