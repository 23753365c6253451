// Package outboundsys assembles the outbound path in one process, for
// end-to-end tests and cmd/bench-outbound: an embedded NATS with
// JetStream, a SQLite store, a blob directory and a keyring, the REST API,
// smtp-deliver, imap-deliver and inbound-email (which receives the mail of
// hosted recipients) each behind their own HTTP server, and the connector
// with a static topic map pointing at them. Mail leaves through the relay
// given in Options.
package outboundsys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/functions/api"
	imapdeliver "github.com/caliopen/functions/functions/imap-deliver"
	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	smtpdeliver "github.com/caliopen/functions/functions/smtp-deliver"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/blob/dirblob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// LocalDomain is the domain of the users' local addresses.
const LocalDomain = "caliopen.test"

// Options configure a System.
type Options struct {
	// Dir holds the store, the blobs and NATS's data; required.
	Dir string
	// Relay is smtp-deliver's submission relay.
	Relay outbound.Server
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
	// MaxInflight bounds concurrent invocations per function (default 64).
	MaxInflight int
	// InProcess has the connector reach the deliver functions without a
	// socket (connector.InProcess), as the local system reaches its
	// functions; their HTTP servers still answer on their URLs.
	InProcess bool
	// Tracing has the API, the connector and the functions record their
	// spans, and the blobs theirs; nil records none.
	Tracing trace.TracerProvider
}

// System is the running outbound path.
type System struct {
	// APIURL is the REST API's base URL (…/api/v2 lives under it).
	APIURL   string
	Store    *store.SQL
	Blobs    *dirblob.Store
	Ring     *secrets.Keyring
	NC       *nats.Conn
	Accounts *accounts.Service
	closers  []func()
}

// Start starts everything; Close stops it.
func Start(ctx context.Context, o Options) (s *System, err error) {
	if o.Dir == "" {
		return nil, errors.New("outboundsys: Dir is required")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s = &System{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.openState(ctx, o.Dir); err != nil {
		return nil, err
	}
	ns, err := natsembed.Start(natsembed.Options{StoreDir: filepath.Join(o.Dir, "nats")})
	if err != nil {
		return nil, fmt.Errorf("start nats: %w", err)
	}
	s.closers = append(s.closers, ns.Shutdown)
	if s.NC, err = nats.Connect(ns.ClientURL()); err != nil {
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	s.closers = append(s.closers, s.NC.Close)
	em, err := emit.New(s.NC)
	if err != nil {
		return nil, fmt.Errorf("emitter: %w", err)
	}
	fns, err := s.serveFunctions(o, em, logger)
	if err != nil {
		return nil, err
	}
	if err := s.runConnector(ctx, ns, fns, o, logger); err != nil {
		return nil, err
	}
	return s, nil
}

// openState opens the store, the blobs, the keyring and the accounts.
func (s *System) openState(ctx context.Context, dir string) error {
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "caliopen.db"))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.Store = st
	s.closers = append(s.closers, func() { _ = st.Close() })
	if s.Blobs, err = dirblob.New(filepath.Join(dir, "blobs")); err != nil {
		return fmt.Errorf("open blobs: %w", err)
	}
	secret := make([]byte, secrets.KeySize)
	copy(secret, "outboundsys test key, not secret")
	if s.Ring, err = secrets.NewKeyring(secrets.Key{ID: "sys", Secret: secret}); err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	s.Accounts, err = accounts.New(accounts.Config{LocalDomain: LocalDomain, BcryptCost: 4}, st)
	return err
}

// served is a function's HTTP server: its URL and its handler.
type served struct {
	url     string
	handler http.Handler
}

// serveFunctions serves the API, smtp-deliver, imap-deliver and
// inbound-email and returns the NATS-triggered functions by subject.
func (s *System) serveFunctions(o Options, em *emit.Emitter, logger *slog.Logger) (map[string]served, error) {
	env := map[string]string{api.EnvLocalDomain: LocalDomain, api.EnvBcryptCost: "4"}
	var blobs blob.Store = s.Blobs
	if o.Tracing != nil {
		blobs = blob.Traced(blobs)
	}
	apiCfg, err := api.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return nil, err
	}
	apiH, err := api.New(apiCfg, api.Deps{Store: s.Store, Blobs: blobs, Emitter: em, Sealer: s.Ring,
		Logger: logger.With("fn", "api"), Tracing: o.Tracing})
	if err != nil {
		return nil, err
	}
	s.APIURL = s.serve(apiH)
	smtpCfg := smtpdeliver.DefaultConfig()
	smtpCfg.Relay = o.Relay
	smtpCore, err := smtpdeliver.New(smtpCfg, smtpdeliver.Deps{Store: s.Store, Blobs: blobs, Keyring: s.Ring,
		Requester: em, Logger: logger.With("fn", "smtp-deliver")})
	if err != nil {
		return nil, err
	}
	inboundCore, err := inboundemail.New(inboundemail.Config{}, inboundemail.Deps{Store: s.Store, Blobs: blobs,
		Logger: logger.With("fn", inboundemail.Name)})
	if err != nil {
		return nil, err
	}
	imapCore, err := imapdeliver.New(imapdeliver.DefaultConfig(), imapdeliver.Deps{Store: s.Store, Blobs: blobs,
		Keyring: s.Ring, Emitter: em, Logger: logger.With("fn", "imap-deliver")})
	if err != nil {
		return nil, err
	}
	c := contract.Caliopen()
	fns := map[string]served{}
	for subject, fn := range map[string]struct {
		name string
		core fnhttp.Core
	}{
		contract.SubjectOutboundSMTP: {"smtp-deliver", smtpCore},
		contract.SubjectOutboundIMAP: {"imap-deliver", imapCore},
		contract.SubjectInboundSMTP:  {inboundemail.Name, inboundCore},
	} {
		h := fnhttp.New(fnhttp.Config{Function: fn.name, Tracing: o.Tracing}, c, fn.core, logger)
		fns[subject] = served{url: s.serve(h), handler: h}
	}
	return fns, nil
}

// serve starts an HTTP server for h and returns its URL.
func (s *System) serve(h http.Handler) string {
	srv := httptest.NewServer(h)
	s.closers = append(s.closers, srv.Close)
	return srv.URL
}

// runConnector starts the connector with a static topic map.
func (s *System) runConnector(ctx context.Context, ns *server.Server, fns map[string]served, o Options, logger *slog.Logger) error {
	cfg := connector.DefaultConfig()
	cfg.NATS.URL = ns.ClientURL()
	cfg.RebuildInterval = time.Minute
	if o.MaxInflight > 0 {
		cfg.MaxInflight = o.MaxInflight
	}
	tm := connector.TopicMap{}
	var transport http.RoundTripper // nil: TCP
	for subject, fn := range fns {
		tm[subject] = []connector.Target{{Name: subject, URL: fn.url}}
		if o.InProcess {
			u, err := url.Parse(fn.url)
			if err != nil {
				return err
			}
			transport = &connector.InProcess{Host: u.Host, Handler: fn.handler, Next: transport}
		}
	}
	c, err := connector.New(cfg, connector.Deps{Logger: logger.With("fn", "connector"), Registry: prometheus.NewRegistry(),
		Contract: contract.Caliopen(), Source: tm, Conn: s.NC, Transport: transport, Tracing: o.Tracing})
	if err != nil {
		return fmt.Errorf("connector: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	s.closers = append(s.closers, func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !c.Ready(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("connector not ready after 10s")
		}
	}
	return nil
}

// Close stops everything, newest first.
func (s *System) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}
