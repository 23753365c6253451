package twitterdm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/dmbridge"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
)

// Config configures twitter-dm: how it reaches the service, and the bridge's
// settings (dmbridge.Settings: MaxPages, InFlight, Budget, ProcessTimeout,
// Lease, SendLease, BaseInterval, MaxInterval).
type Config struct {
	X xaccount.Config
	dmbridge.Settings
}

// EnvBaseInterval names the poll interval, which the scheduler reads too.
const EnvBaseInterval = "CALIOPEN_POLL_TWITTER_INTERVAL"

// env names the settings' variables (besides xaccount's, read by LoadConfig):
// TWITTER_DM_MAX_PAGES (default 100), _IN_FLIGHT (16), _PROCESS_TIMEOUT (10s),
// _BUDGET (10s), _LEASE (2m), _SEND_LEASE (1m), _MAX_INTERVAL (24h), and
// EnvBaseInterval.
var env = dmbridge.EnvFor("TWITTER_DM", EnvBaseInterval)

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config { return Config{Settings: dmbridge.DefaultSettings(100)} }

// LoadConfig reads the configuration, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	a, err := xaccount.LoadConfig(getenv)
	cfg.X = a
	return cfg, errors.Join(err, cfg.Settings.Load(getenv, env))
}

// Store is what twitter-dm needs of the store; *store.SQL has it.
type Store interface {
	dmbridge.Store
	GetDiscussion(ctx context.Context, userID, id string) (store.Discussion, error)
	MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]store.Message, error)
	EnsureDiscussion(ctx context.Context, userID, key, subject string) (store.Discussion, error)
	store.RemoteHandles
}

// Emitter sends orders; *emit.Emitter is one.
type Emitter = dmbridge.Emitter

// Deps are twitter-dm's dependencies; all but Tokens and Now are required.
type Deps struct {
	Store   Store
	Blobs   blob.Store
	Keyring xaccount.Opener
	// Tokens renews expired OAuth2 access tokens; nil renews nothing.
	Tokens  xaccount.Tokens
	Emitter Emitter
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Build builds twitter-dm from its environment (LoadConfig, every problem at
// once) and its dependencies. Every function's Build has this shape; the
// registry (package functions) passes the shared parts and a logger that
// already carries "fn".
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

type bridge struct {
	cfg  Config
	deps Deps
	pool gopool.Pool
	// afterHandoff runs after X accepted a message; tests make it fail to
	// play a crash before the mark.
	afterHandoff func() error
	// retryBase is the first wait before trying a failed X call again
	// (retryFirst; tests shorten it).
	retryBase time.Duration
}

// New returns the core of twitter-dm.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	b, err := newBridge(cfg, deps)
	if err != nil {
		return nil, err
	}
	return b.core, nil
}

func newBridge(cfg Config, deps Deps) (*bridge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("twitter-dm config: %w", err)
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Keyring == nil || deps.Emitter == nil || deps.Logger == nil {
		return nil, errors.New("twitter-dm: store, blobs, keyring, emitter and logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &bridge{cfg: cfg, deps: deps, retryBase: retryFirst}, nil
}

// core serves sync and deliver.
func (b *bridge) core(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o := dmbridge.Orders{Subject: contract.SubjectTwitterDM, Protocol: store.ProtocolTwitter, Service: "twitter",
		Identities: b.deps.Store, Sync: b.sync, Deliver: b.deliver}
	return o.Serve(ctx, call)
}
