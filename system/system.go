// Package system assembles the whole system in one process from a Config:
// an embedded NATS server with JetStream; the store, the blobs and the
// keyring; every function of the registry (package functions) behind the
// OpenFaaS-compatible gateway; the connector in gateway mode; and, when
// asked, the SMTP/LMTP listener, the scheduler with the outbox relay and
// the raw-message sweep, and the connector's admin endpoints. The local
// system (cmd/caliopen-local), the end-to-end tests (systest/) and the
// benchmarks (cmd/bench-*) all start it here.
//
// Failure semantics: Start returns an error, and stops what it started,
// when any part cannot start; Stop drains the connector, then stops every
// part, newest first, and reports every problem.
package system

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/datalock"
	"github.com/caliopen/functions/internal/gateway"
	"github.com/caliopen/functions/internal/httplimit"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsconn"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/outbox"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/provider"
	"github.com/caliopen/functions/internal/rawsweep"
	"github.com/caliopen/functions/internal/scheduler"
	"github.com/caliopen/functions/internal/smtplistener"
)

// Config says what to start and where.
type Config struct {
	// DataDir holds the store, the blobs, NATS's store and, by default,
	// the keyring; required. It is made private to the user (0700).
	DataDir string
	// Host is the address every part listens on (default 127.0.0.1).
	Host string
	// NATSPort and GatewayPort: 0 picks a free port.
	NATSPort, GatewayPort int
	// StoreDSN overrides the SQLite database in DataDir (postgres://...).
	StoreDSN string
	// KeysFile is the keyring sealing remote-account credentials, created
	// on first use; default secrets.keys in DataDir.
	KeysFile string
	// Getenv reads the settings of the functions and of the parts
	// (SMTP_*, SCHEDULER_*, RAW_SWEEP_*); nil reads nothing.
	Getenv func(string) string
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger

	// SMTP runs the SMTP listener on SMTPPort (0: a free port), and LMTP
	// also serves LMTP on LMTPPort.
	SMTP, LMTP         bool
	SMTPPort, LMTPPort int
	// Listener, when set, is the listener's configuration (its addresses
	// ignored) in place of the SMTP_* settings.
	Listener *smtplistener.Config
	// Scheduler runs the scheduler's loop, the outbox relay and the sweep
	// of raw messages nothing refers to.
	Scheduler bool
	// Admin serves the connector's metrics and health on AdminPort.
	Admin     bool
	AdminPort int

	// OverTCP has the connector reach every function through the
	// gateway's listener, which then serves them all; by default the
	// connector reaches them in process and the listener serves only the
	// HTTP functions (the REST API).
	OverTCP bool
	// Transport, when set, wraps the connector's transport to the
	// gateway (a test takes a function away with it).
	Transport func(http.RoundTripper) http.RoundTripper
	// MaxInflight bounds concurrent invocations per function (default the
	// connector's).
	MaxInflight int
	// RebuildInterval is how often the connector reads the gateway's
	// function list (default 2s).
	RebuildInterval time.Duration

	// Process, when set, runs each function as processes of its own
	// behind the gateway's OpenFaaS provider, whose API (/system/*) then
	// asks for the credentials kept in DataDir/provider/auth; by default
	// every function runs in this process.
	Process *Process
	// Tracing records the spans of every part (package tracing); nil
	// records none. The caller shuts it down after Stop.
	Tracing trace.TracerProvider
}

// System is the running system.
type System struct {
	// NATSURL is the embedded NATS server; it accepts the users of
	// package natsusers alone, their passwords in DataDir (natsusers.DirName).
	NATSURL    string
	GatewayURL string
	AdminURL   string // "" unless Config.Admin
	SMTPAddr   string // "" unless Config.SMTP
	LMTPAddr   string // "" unless Config.LMTP
	// Functions are the names of the functions served.
	Functions []string
	// Deps are the shared store, blobs, emitter and keyring.
	Deps *platform.Deps

	// Provider runs the functions' processes; nil unless Config.Process.
	Provider *provider.Provider

	log    *slog.Logger
	nats   *server.Server
	unlock func() // releases the data directory's lock
	// localPassword is the in-process parts' NATS password.
	localPassword string
	nc            *nats.Conn
	conn          *connector.Connector
	servers       []*http.Server
	stops         []func() error // parts started after NATS, stopped newest first
}

// Start starts the system; it serves until Stop.
func Start(ctx context.Context, cfg Config) (_ *System, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("system: DataDir is required")
	}
	cfg.Host = cmp.Or(cfg.Host, "127.0.0.1")
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) string { return "" }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &System{log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()
	// Mail, credentials and the store are the user's alone.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// One system (or caliopen-admin) at a time on a data directory.
	unlock, err := datalock.Take(cfg.DataDir)
	if errors.Is(err, datalock.ErrInUse) {
		return nil, fmt.Errorf("data directory %s is in use by another local system (lock %s held); stop it or pick another -data",
			cfg.DataDir, filepath.Join(cfg.DataDir, datalock.Name))
	}
	if err != nil {
		return nil, err
	}
	s.unlock = unlock
	if err := s.startNATS(cfg); err != nil {
		return nil, err
	}
	if err := s.openDeps(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.startFunctions(ctx, cfg); err != nil {
		return nil, err
	}
	if cfg.SMTP || cfg.LMTP {
		if err := s.startListener(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.Scheduler {
		if err := s.startScheduler(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// PortError says which part could not listen on its port.
type PortError struct {
	Part string // nats, gateway, admin, smtp, lmtp
	Port int
	Err  error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("%s port %d: %v (pick another port, or 0 for any free one)", e.Part, e.Port, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }

// listen listens on host:port for part.
func listen(host string, port int, part string) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, &PortError{Part: part, Port: port, Err: err}
	}
	return ln, nil
}

func (s *System) startNATS(cfg Config) error {
	// Check the port here: the embedded server's own error is less clear.
	probe, err := listen(cfg.Host, cfg.NATSPort, "nats")
	if err != nil {
		return err
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	users, err := s.natsUsers(cfg.DataDir)
	if err != nil {
		return err
	}
	s.nats, err = natsembed.Start(natsembed.Options{Host: cfg.Host, Port: port, StoreDir: filepath.Join(cfg.DataDir, "nats"),
		Users: users})
	if err != nil {
		return err
	}
	s.NATSURL = s.nats.ClientURL()
	return nil
}

// localNATSUser is the NATS user of the parts running in this process (the
// connector, the gateway's asynchronous calls, the in-process functions,
// the listener and the scheduler): accepted only on an in-process
// connection, with a password that lives as long as the process.
const localNATSUser = "caliopen-local"

// natsUsers are the users the embedded server accepts, and nothing else:
// the cluster's, one per component (package natsusers), with the
// passwords kept in the data directory (made at the first start), and the
// in-process parts' own.
func (s *System) natsUsers(dataDir string) ([]natsembed.User, error) {
	var fns []natsusers.Function
	for _, spec := range functions.All() {
		fns = append(fns, spec.NATS())
	}
	table, err := natsusers.Users(contract.Caliopen(), fns)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(table))
	for i, u := range table {
		names[i] = u.Name
	}
	passwords, err := natsusers.EnsurePasswords(dataDir, names)
	if err != nil {
		return nil, err
	}
	s.localPassword = rand.Text() + rand.Text()
	users := []natsembed.User{{Name: localNATSUser, Password: s.localPassword, Publish: []string{">"}, Subscribe: []string{">"},
		InProcessOnly: true}}
	for _, u := range table {
		users = append(users, natsembed.User{Name: u.Name, Password: passwords[u.Name], Publish: u.Publish,
			Subscribe: u.Subscribe, Responses: u.Responses})
	}
	return users, nil
}

// localNATS is the in-process parts' connection settings.
func (s *System) localNATS(name string) natsconn.Config {
	return natsconn.Config{URL: s.NATSURL, Name: name, User: localNATSUser, Password: s.localPassword, InProcess: s.nats}
}

func (s *System) openDeps(ctx context.Context, cfg Config) error {
	keyring, err := platform.KeyringFile(cmp.Or(cfg.KeysFile, filepath.Join(cfg.DataDir, "secrets.keys")))
	if err != nil {
		return err
	}
	pcfg := platform.Local(cfg.DataDir, s.NATSURL, "caliopen-local-functions")
	pcfg.NATS = s.localNATS("caliopen-local-functions")
	pcfg.StoreDSN = cmp.Or(cfg.StoreDSN, pcfg.StoreDSN)
	if s.Deps, err = platform.Open(ctx, pcfg, keyring, s.log); err != nil {
		return err
	}
	if cfg.Tracing != nil {
		s.Deps.Blobs = blob.Traced(s.Deps.Blobs)
	}
	return nil
}

// startFunctions serves every function of the registry behind the gateway
// and starts the connector on it.
func (s *System) startFunctions(ctx context.Context, cfg Config) error {
	c := contract.Caliopen()
	// The functions accept only calls the connector signed, with a key
	// that lives as long as the process.
	invokeKey := rand.Text() + rand.Text()
	invokeKeys, err := invokeauth.ParseKeys(invokeKey)
	if err != nil {
		return err
	}
	gwReg := prometheus.NewRegistry()
	gwCfg := gateway.Config{WKDFunction: "api"}
	var fns []gateway.Function
	if cfg.Process != nil {
		keysFile := cmp.Or(cfg.KeysFile, filepath.Join(cfg.DataDir, "secrets.keys"))
		if s.Provider, fns, err = startProvider(cfg, c, s.NATSURL, keysFile, invokeKey, gwReg, s.log); err != nil {
			return err
		}
		s.stops = append(s.stops, s.Provider.Close)
		// The connector follows the key as the replicas do: rotated
		// through the provider API, it changes without a restart.
		if invokeKeys, err = invokeauth.LoadFile(s.Provider.SecretFile(provider.InvokeKeySecret)); err != nil {
			return err
		}
		gwCfg.Provider = s.Provider.Handlers()
		if gwCfg.BasicAuth, err = basicAuth(filepath.Join(cfg.DataDir, "provider", "auth")); err != nil {
			return err
		}
	} else {
		env := functions.Env{Getenv: cfg.Getenv, Logger: s.log, Contract: c, Store: s.Deps.Store, Blobs: s.Deps.Blobs,
			Emitter: s.Deps.Emitter, Keyring: s.Deps.Keyring, InvokeKeys: invokeKeys, Tracing: cfg.Tracing}
		if fns, err = Functions(c, env); err != nil {
			return err
		}
	}
	gw, err := gateway.New(gwCfg, fns, gwReg, s.log.With("part", "gateway"))
	if err != nil {
		return err
	}
	gwLn, err := listen(cfg.Host, cfg.GatewayPort, "gateway")
	if err != nil {
		return err
	}
	s.GatewayURL = "http://" + gwLn.Addr().String()
	var transport http.RoundTripper
	if cfg.OverTCP {
		s.serve(gwLn, gw)
	} else {
		// From outside, only the HTTP functions (the REST API, which
		// authenticates its users) are invocable; the connector reaches
		// the others in process, without a socket.
		var public []string
		for _, spec := range functions.All() {
			if spec.HTTP != nil {
				public = append(public, spec.Name)
			}
		}
		s.serve(gwLn, gw.Public(public...))
		transport = &connector.InProcess{Host: gwLn.Addr().String(), Handler: gw}
	}
	if cfg.Transport != nil {
		transport = cfg.Transport(cmp.Or[http.RoundTripper](transport, http.DefaultTransport))
	}
	ncOpts, err := s.localNATS("caliopen-local-connector").Options(s.log.With("part", "connector"), nil)
	if err != nil {
		return err
	}
	if s.nc, err = nats.Connect(s.NATSURL, ncOpts...); err != nil {
		return fmt.Errorf("connect to embedded nats: %w", err)
	}
	// faas-cli invoke --async: calls go through JetStream, at least once.
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	acfg, err := gateway.LoadAsyncConfig(cfg.Getenv)
	if err != nil {
		return err
	}
	stopAsync, err := gw.ServeAsync(ctx, js, acfg)
	if err != nil {
		return err
	}
	s.stops = append(s.stops, func() error { stopAsync(); return nil })
	ccfg := connector.DefaultConfig()
	ccfg.NATS.URL = s.NATSURL
	ccfg.GatewayURL = s.GatewayURL
	ccfg.RebuildInterval = cmp.Or(cfg.RebuildInterval, 2*time.Second)
	ccfg.MaxInflight = cmp.Or(cfg.MaxInflight, ccfg.MaxInflight)
	ccfg.InvokeKeys = invokeKeys
	if gwCfg.BasicAuth != nil {
		ccfg.GatewayBasicAuth, ccfg.SecretMountPath = true, filepath.Join(cfg.DataDir, "provider", "auth")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.conn, err = connector.New(ccfg, connector.Deps{Logger: s.log.With("part", "connector"), Registry: reg,
		Contract: c, Conn: s.nc, Transport: transport, Tracing: cfg.Tracing})
	if err != nil {
		return err
	}
	if err := s.conn.Start(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go s.conn.Serve(runCtx)
	s.stops = append(s.stops, func() error { cancel(); return s.conn.Drain() })
	if cfg.Admin {
		adminLn, err := listen(cfg.Host, cfg.AdminPort, "admin")
		if err != nil {
			return err
		}
		s.AdminURL = "http://" + adminLn.Addr().String()
		s.serve(adminLn, s.conn.AdminHandler(reg))
	}
	for _, f := range fns {
		s.Functions = append(s.Functions, f.Name)
	}
	return nil
}

// Functions builds every function of the registry, annotated with its
// subjects and queue group (none for an HTTP function such as the API).
func Functions(c *contract.Contract, env functions.Env) ([]gateway.Function, error) {
	var out []gateway.Function
	var errs []error
	for _, spec := range functions.All() {
		h, err := spec.Handler(env)
		if err != nil {
			errs = append(errs, fmt.Errorf("function %s: %w", spec.Name, err))
			continue
		}
		ann := annotations(c, spec.Name)
		out = append(out, gateway.Function{Name: spec.Name, Handler: h, Annotations: ann})
	}
	return out, errors.Join(errs...)
}

// annotations are a function's subjects and queue group, as its stack.yml
// entry has them (none for an HTTP function such as the API).
func annotations(c *contract.Contract, name string) map[string]string {
	var topics, queues []string
	for _, sub := range c.SubjectsOf(name) {
		topics = append(topics, sub.Name)
		if !slices.Contains(queues, sub.Queue) {
			queues = append(queues, sub.Queue)
		}
	}
	ann := map[string]string{}
	if len(topics) > 0 {
		ann["topic"] = strings.Join(topics, ",")
		ann["caliopen.queue"] = strings.Join(queues, ",")
	}
	return ann
}

// startListener runs the SMTP listener (its limits from the SMTP_*
// variables); it hands each accepted mail to inbound-email through NATS,
// as the pod does.
func (s *System) startListener(ctx context.Context, cfg Config) error {
	lcfg, err := smtplistener.LoadConfig(cfg.Getenv)
	if err != nil {
		return err
	}
	if cfg.Listener != nil {
		lcfg = *cfg.Listener
	}
	l, err := smtplistener.New(lcfg, smtplistener.Deps{Directory: s.Deps.Store, Raws: s.Deps.Store, Blobs: s.Deps.Blobs,
		Requester: s.Deps.Emitter, Logger: s.log.With("part", "smtp-listener"), Tracing: cfg.Tracing})
	if err != nil {
		return err
	}
	var smtpLn, lmtpLn net.Listener
	if cfg.SMTP {
		if smtpLn, err = listen(cfg.Host, cfg.SMTPPort, "smtp"); err != nil {
			return err
		}
		s.SMTPAddr = smtpLn.Addr().String()
	}
	if cfg.LMTP {
		if lmtpLn, err = listen(cfg.Host, cfg.LMTPPort, "lmtp"); err != nil {
			if smtpLn != nil {
				smtpLn.Close()
			}
			return err
		}
		s.LMTPAddr = lmtpLn.Addr().String()
	}
	s.goRun(ctx, "smtp listener", func(ctx context.Context) error { return l.Serve(ctx, smtpLn, lmtpLn, 10*time.Second) })
	return nil
}

// startScheduler runs the scheduler pod's loop (sync orders for every
// active remote identity at its poll interval), the outbox relay (the
// orders written and not yet published: JetStream away, a crash) and the
// sweep of raw messages nothing refers to (RAW_SWEEP_INTERVAL,
// RAW_SWEEP_MIN_AGE).
func (s *System) startScheduler(ctx context.Context, cfg Config) error {
	scfg, err := scheduler.LoadConfig(cfg.Getenv)
	sweep, serr := rawsweep.LoadConfig(cfg.Getenv)
	if err := errors.Join(err, serr); err != nil {
		return err
	}
	scfg.HTTPAddr = ""
	sch, err := scheduler.New(scfg, scheduler.Deps{Store: s.Deps.Store, Sender: scheduler.NATSSender{Emitter: s.Deps.Emitter},
		Logger: s.log.With("part", "scheduler")})
	if err != nil {
		return err
	}
	s.goRun(ctx, "scheduler", func(ctx context.Context) error {
		stopRelay := outbox.New(outbox.Config{}, s.Deps.Store, s.Deps.Emitter, s.log.With("part", "outbox")).Start(ctx)
		defer stopRelay()
		if blobs, ok := s.Deps.Blobs.(rawsweep.Blobs); ok {
			go rawsweep.Run(ctx, sweep, s.Deps.Store, blobs, s.log.With("part", "raw-sweep"))
		}
		return sch.Run(ctx)
	})
	return nil
}

// goRun runs part until Stop, which waits for it.
func (s *System) goRun(ctx context.Context, name string, part func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- part(ctx) }()
	s.stops = append(s.stops, func() error {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}

// serve serves h on ln, bounded against slow and trickling clients
// (package httplimit), until Stop.
func (s *System) serve(ln net.Listener, h http.Handler) {
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

// Stop stops the listener and the scheduler, drains the connector, then
// stops the HTTP servers, the shared parts and NATS.
func (s *System) Stop() error {
	var errs []error
	for i := len(s.stops) - 1; i >= 0; i-- {
		errs = append(errs, s.stops[i]())
	}
	s.stops = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		// Connections still busy after the grace period (a client still
		// sending a body the server refused) are closed: stopping stops.
		if err := srv.Shutdown(ctx); err != nil {
			s.log.Warn("connections closed after the shutdown's grace period", "err", err)
			errs = append(errs, srv.Close())
		}
	}
	s.servers = nil
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	if s.Deps != nil {
		errs = append(errs, s.Deps.Close())
		s.Deps = nil
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
		s.nats = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	return errors.Join(errs...)
}
