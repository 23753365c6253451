// Package listenertest runs the whole inbound path in one process for tests
// and benchmarks: an embedded NATS server, the real connector with a static
// topic map, the inbound-email function served over HTTP by the shared
// adapter, a store (SQLite by default), a blob directory, and the SMTP/LMTP
// listener on loopback ports; on request smtp-deliver too, whose hosted
// recipients receive their mail through the same inbound-email. The
// function can be stopped and started again to show what the listener (or
// smtp-deliver) answers meanwhile.
//
// Failure semantics: Start returns an error (and releases what it started)
// when any part cannot start; Close stops everything and reports the first
// problem.
package listenertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/connector"
	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	smtpdeliver "github.com/caliopen/functions/functions/smtp-deliver"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/platform"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
)

// Options configure a stack.
type Options struct {
	// Dir holds the NATS store, the SQLite database and the blobs. Required.
	Dir string
	// StoreDSN overrides the SQLite database in Dir (e.g. postgres://...).
	StoreDSN string
	// Listener is the listener's configuration; Addr and LMTPAddr are
	// ignored (loopback ports are picked).
	Listener smtplistener.Config
	// LMTP also serves LMTP.
	LMTP bool
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
	// InProcess has the connector reach inbound-email without a socket,
	// as the local system reaches its functions (connector.InProcess).
	// StopFunction then no longer stops the invocations.
	InProcess bool
	// Deliver, when set, also serves smtp-deliver on outboundSMTP with
	// this configuration (Deps.Requester on the stack's NATS).
	Deliver *smtpdeliver.Config
	// WrapFunction, when set, wraps inbound-email's handler: a test puts
	// a fault in front of the real function.
	WrapFunction func(http.Handler) http.Handler
	// Tracing has the listener, the connector and inbound-email record
	// their spans, and the blobs theirs; nil records none.
	Tracing trace.TracerProvider
}

// Stack is a running inbound path.
type Stack struct {
	NATS     *server.Server
	Store    *store.SQL
	Blobs    blob.Store
	SMTPAddr string
	LMTPAddr string // "" unless Options.LMTP

	log     *slog.Logger
	handler http.Handler
	src     *staticSource
	mu      sync.Mutex
	fnSrv   *http.Server
	fnAddr  string // inbound-email's current address
	fnHost  string // inbound-email's first address, served in process when set
	dlvURL  string // smtp-deliver's URL, "" unless Options.Deliver
	stops   []func() error
	tracing trace.TracerProvider
}

// Start starts a stack.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Dir == "" {
		return nil, errors.New("listenertest: Dir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Stack{log: o.Logger, src: &staticSource{}, tracing: o.Tracing}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.NATS, err = natsembed.Start(natsembed.Options{StoreDir: filepath.Join(o.Dir, "nats")}); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, func() error { s.NATS.Shutdown(); return nil })
	dsn := o.StoreDSN
	if dsn == "" {
		dsn = "sqlite://" + filepath.Join(o.Dir, "caliopen.db")
	}
	if s.Store, err = store.Open(ctx, dsn); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, s.Store.Close)
	dir, err := dirblob.New(filepath.Join(o.Dir, "blobs"))
	if err != nil {
		return nil, err
	}
	s.Blobs = blob.NewRecent(dir, store.RawPrefix, platform.LocalRecentRaw) // as the local system
	if o.Tracing != nil {
		s.Blobs = blob.Traced(s.Blobs)
	}
	core, err := inboundemail.New(inboundemail.Config{}, inboundemail.Deps{Store: s.Store, Blobs: s.Blobs,
		Logger: o.Logger.With("fn", inboundemail.Name)})
	if err != nil {
		return nil, err
	}
	s.handler = fnhttp.New(fnhttp.Config{Function: inboundemail.Name, Timeout: contract.InboundDeadline, Tracing: o.Tracing},
		contract.Caliopen(), core, o.Logger)
	if o.WrapFunction != nil {
		s.handler = o.WrapFunction(s.handler)
	}
	if o.Deliver != nil {
		if err := s.startDeliver(*o.Deliver); err != nil {
			return nil, err
		}
	}
	if err := s.StartFunction(); err != nil {
		return nil, err
	}
	if o.InProcess {
		s.fnHost = s.fnSrvAddr()
	}
	if err := s.startConnector(); err != nil {
		return nil, err
	}
	return s, s.startListener(o)
}

func (s *Stack) startConnector() error {
	cfg := connector.DefaultConfig()
	cfg.NATS.URL = s.NATS.ClientURL()
	cfg.RebuildInterval = 20 * time.Millisecond
	cfg.MaxInflight = 256
	cfg.DrainTimeout = 5 * time.Second
	deps := connector.Deps{Logger: s.log.With("fn", "connector"), Registry: prometheus.NewRegistry(),
		Contract: contract.Caliopen(), Source: s.src, Tracing: s.tracing}
	if s.fnHost != "" {
		deps.Transport = &connector.InProcess{Host: s.fnHost, Handler: s.handler}
	}
	c, err := connector.New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	s.stops = append(s.stops, func() error { cancel(); return <-done })
	deadline := time.Now().Add(10 * time.Second)
	for !c.Ready() {
		if time.Now().After(deadline) {
			return errors.New("listenertest: connector not ready after 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// emitter connects to the stack's NATS as name.
func (s *Stack) emitter(name string) (*emit.Emitter, error) {
	nc, err := nats.Connect(s.NATS.ClientURL(), nats.Name(name))
	if err != nil {
		return nil, err
	}
	s.stops = append(s.stops, func() error { nc.Close(); return nil })
	return emit.New(nc)
}

// startDeliver serves smtp-deliver with cfg on a loopback port.
func (s *Stack) startDeliver(cfg smtpdeliver.Config) error {
	em, err := s.emitter("smtp-deliver")
	if err != nil {
		return err
	}
	secret := make([]byte, secrets.KeySize)
	copy(secret, "listenertest key, not secret")
	ring, err := secrets.NewKeyring(secrets.Key{ID: "test", Secret: secret})
	if err != nil {
		return err
	}
	core, err := smtpdeliver.New(cfg, smtpdeliver.Deps{Store: s.Store, Blobs: s.Blobs, Keyring: ring, Requester: em,
		Logger: s.log.With("fn", "smtp-deliver")})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fnhttp.New(fnhttp.Config{Function: "smtp-deliver"}, contract.Caliopen(), core, s.log),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	s.stops = append(s.stops, srv.Close)
	s.dlvURL = "http://" + ln.Addr().String()
	return nil
}

func (s *Stack) startListener(o Options) error {
	em, err := s.emitter("smtp-listener")
	if err != nil {
		return err
	}
	l, err := smtplistener.New(o.Listener, smtplistener.Deps{Directory: s.Store, Raws: s.Store, Blobs: s.Blobs,
		Requester: em, Logger: s.log.With("fn", "smtp-listener"), Tracing: o.Tracing})
	if err != nil {
		return err
	}
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.SMTPAddr = smtpLn.Addr().String()
	var lmtpLn net.Listener
	if o.LMTP {
		if lmtpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			smtpLn.Close()
			return err
		}
		s.LMTPAddr = lmtpLn.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, smtpLn, lmtpLn, 5*time.Second) }()
	s.stops = append(s.stops, func() error { cancel(); return <-done })
	return nil
}

// StartFunction serves inbound-email on a fresh loopback port and points
// the connector's topic map at it.
func (s *Stack) StartFunction() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	s.mu.Lock()
	s.fnSrv, s.fnAddr = srv, ln.Addr().String()
	s.mu.Unlock()
	tm := connector.TopicMap{contract.SubjectInboundSMTP: {{Name: inboundemail.Name, URL: "http://" + ln.Addr().String()}}}
	if s.dlvURL != "" {
		tm[contract.SubjectOutboundSMTP] = []connector.Target{{Name: "smtp-deliver", URL: s.dlvURL}}
	}
	s.src.set(tm)
	time.Sleep(100 * time.Millisecond) // a few topic map rebuilds
	return nil
}

// fnSrvAddr is inbound-email's current address.
func (s *Stack) fnSrvAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fnAddr
}

// StopFunction stops serving inbound-email; the topic map still names it,
// as when a function's pods are gone, so invocations fail to connect.
func (s *Stack) StopFunction() error {
	s.mu.Lock()
	srv := s.fnSrv
	s.fnSrv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// AddLocalUser creates a user with an active local e-mail identity for
// address and returns their ids.
func (s *Stack) AddLocalUser(ctx context.Context, name, address string) (userID, identityID string, err error) {
	u, err := s.Store.CreateUser(ctx, store.User{Name: name})
	if err != nil {
		return "", "", fmt.Errorf("create user %s: %w", name, err)
	}
	id, err := s.Store.CreateIdentity(ctx, store.Identity{UserID: u.ID, Type: store.LocalIdentity,
		Protocol: store.ProtocolEmail, Identifier: address})
	if err != nil {
		return "", "", fmt.Errorf("create identity for %s: %w", name, err)
	}
	return u.ID, id.ID, nil
}

// CountMessages counts the messages of a user in the stack's store, page by
// page.
func (s *Stack) CountMessages(ctx context.Context, userID string) (int, error) {
	n, cursor := 0, ""
	for {
		ms, next, err := s.Store.ListMessages(ctx, userID, store.MessageFilter{}, store.Page{Limit: store.MaxLimit, After: cursor})
		if err != nil {
			return 0, err
		}
		n += len(ms)
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}

// Close stops everything, the last started first.
func (s *Stack) Close() error {
	var errs []error
	errs = append(errs, s.StopFunction())
	for i := len(s.stops) - 1; i >= 0; i-- {
		if err := s.stops[i](); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	s.stops = nil
	return errors.Join(errs...)
}

// staticSource is a topic map the stack changes.
type staticSource struct {
	mu sync.Mutex
	m  connector.TopicMap
}

// Load returns the current map.
func (s *staticSource) Load(context.Context) (connector.TopicMap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m, nil
}

func (s *staticSource) set(m connector.TopicMap) {
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
}
