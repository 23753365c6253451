// Package systemtest runs the whole system (package system) for end-to-end
// tests and benchmarks: in a directory of its own, with the settings tests
// want (local domain caliopen.test, cheap password hashes, a plain relay),
// the SMTP listener on loopback ports, a NATS connection of its own (as the
// operator), connections as any component (ConnectAs), and
// helpers that add users, call the REST API as one of them, count their
// messages, and take a function away and bring it back.
//
// Failure semantics: Start returns an error (and stops what it started)
// when any part cannot start; Close stops everything and reports every
// problem.
package systemtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/functions/api"
	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/smtplistener"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/system"
)

// LocalDomain is the domain of the users' local addresses.
const LocalDomain = "caliopen.test"

// Options configure a System.
type Options struct {
	// Dir holds the store, the blobs and NATS's data; required.
	Dir string
	// StoreDSN overrides the SQLite database in Dir (e.g. postgres://...).
	StoreDSN string
	// RelayAddr is smtp-deliver's submission relay (no TLS, no AUTH);
	// "" has no relay.
	RelayAddr string
	// Listener is the SMTP listener's configuration (its addresses are
	// ignored: loopback ports are picked). LMTP also serves LMTP.
	Listener smtplistener.Config
	LMTP     bool
	// Env adds settings of the functions (name → value).
	Env map[string]string
	// OverTCP has the connector reach the functions through the
	// gateway's listener rather than in process.
	OverTCP bool
	// MaxInflight bounds concurrent invocations per function.
	MaxInflight int
	// Logger receives every part's logs; nil discards them.
	Logger *slog.Logger
	// Tracing records every part's spans; nil records none.
	Tracing trace.TracerProvider
}

// System is a running system.
type System struct {
	*system.System
	// APIURL is the REST API's base URL (…/api/v2 lives under it).
	APIURL string
	Store  *store.SQL
	Blobs  blob.Store
	// NC is a connection of the test's own, as the operator's command
	// line (natsusers.Operator): it may send every order of the contract.
	NC       *nats.Conn
	dir      string
	Accounts *accounts.Service
	gate     *gate
}

// Start starts a system; Close stops it.
func Start(ctx context.Context, o Options) (_ *System, err error) {
	if o.Dir == "" {
		return nil, errors.New("systemtest: Dir is required")
	}
	env := map[string]string{api.EnvLocalDomain: LocalDomain, api.EnvBcryptCost: "4"}
	if o.RelayAddr != "" {
		env["SMTP_DELIVER_RELAY_ADDR"], env["SMTP_DELIVER_RELAY_TLS"] = o.RelayAddr, "none"
	}
	for k, v := range o.Env {
		env[k] = v
	}
	g := &gate{down: map[string]bool{}, intercept: map[string]http.Handler{}}
	listener := o.Listener
	sys, err := system.Start(ctx, system.Config{DataDir: o.Dir, StoreDSN: o.StoreDSN, Logger: o.Logger,
		Getenv: func(k string) string { return env[k] }, SMTP: true, LMTP: o.LMTP, Listener: &listener,
		OverTCP: o.OverTCP, MaxInflight: o.MaxInflight, RebuildInterval: 100 * time.Millisecond, Tracing: o.Tracing,
		Transport: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	if err != nil {
		return nil, err
	}
	s := &System{System: sys, APIURL: sys.GatewayURL + "/function/api", Store: sys.Deps.Store, Blobs: sys.Deps.Blobs, gate: g, dir: o.Dir}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if s.NC, err = s.ConnectAs(natsusers.Operator, nats.Name("systemtest")); err != nil {
		return nil, err
	}
	if s.Accounts, err = accounts.New(accounts.Config{LocalDomain: LocalDomain, BcryptCost: 4}, s.Store); err != nil {
		return nil, err
	}
	return s, nil
}

// ConnectAs connects to the system's NATS as user (a row of package
// natsusers: natsusers.Operator, a function's name...), with its password
// from the data directory and its inbox prefix, as that component does.
func (s *System) ConnectAs(user string, opts ...nats.Option) (*nats.Conn, error) {
	pw, err := natsusers.ReadPassword(s.dir, user)
	if err != nil {
		return nil, err
	}
	opts = append([]nats.Option{nats.Name(user), nats.UserInfo(user, pw),
		nats.CustomInboxPrefix(natsusers.InboxPrefixOf(user))}, opts...)
	nc, err := nats.Connect(s.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect nats as %s: %w", user, err)
	}
	return nc, nil
}

// Close stops the system.
func (s *System) Close() error {
	if s.NC != nil {
		s.NC.Close()
	}
	return s.Stop()
}

// StopFunction takes function name away: the gateway still lists it, as
// when a function's pods are gone, and each invocation fails to connect.
func (s *System) StopFunction(name string) { s.gate.set(name, true) }

// StartFunction brings function name back.
func (s *System) StartFunction(name string) { s.gate.set(name, false) }

// Intercept has h answer the invocations of function name in its place
// (a test records the orders a function would get).
func (s *System) Intercept(name string, h http.Handler) {
	s.gate.mu.Lock()
	s.gate.intercept[name] = h
	s.gate.mu.Unlock()
}

// Wrap puts w in front of function name: its invocations go to
// w(the real function), so that a test changes a request or an answer,
// or puts a fault in the way.
func (s *System) Wrap(name string, w func(http.Handler) http.Handler) {
	s.Intercept(name, w(forward{s.gate}))
}

// forward serves a request through the gate's own transport: the real
// function.
type forward struct{ g *gate }

func (f forward) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, err := f.g.next.RoundTrip(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer res.Body.Close()
	for k, v := range res.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(res.StatusCode)
	_, _ = io.Copy(w, res.Body)
}

// gate is the connector's transport: it refuses the invocations of the
// functions taken away and hands those intercepted to their handler.
type gate struct {
	next      http.RoundTripper
	mu        sync.Mutex
	down      map[string]bool
	intercept map[string]http.Handler
}

func (g *gate) set(name string, down bool) {
	g.mu.Lock()
	g.down[name] = down
	g.mu.Unlock()
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	name, _ := strings.CutPrefix(req.URL.Path, "/function/")
	name, _, _ = strings.Cut(name, "/")
	name, _, _ = strings.Cut(name, ".") // name.namespace
	g.mu.Lock()
	down, h := g.down[name], g.intercept[name]
	g.mu.Unlock()
	if down {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("dial %s: %w", req.URL.Host, syscall.ECONNREFUSED)
	}
	if h != nil {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result(), nil
	}
	return g.next.RoundTrip(req)
}

// AddLocalUser creates a user with an active local e-mail identity for
// address and returns their ids.
func (s *System) AddLocalUser(ctx context.Context, name, address string) (userID, identityID string, err error) {
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

// CountMessages counts the messages of a user, page by page.
func (s *System) CountMessages(ctx context.Context, userID string) (int, error) {
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
