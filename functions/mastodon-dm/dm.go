// Package mastodondm is the mastodon-dm function: sync and deliver on
// mastodon_dm (queue Mastodonworkers), the original's mastodon-bridge
// DMmsgHandler. remote_id names a remote mastodon identity: its instance
// URL (infos "url") and sealed OAuth 2.0 access token
// (internal/mastoaccount), every connection through the egress guard.
//
// sync (publish/subscribe, sent by the scheduler when the identity is due,
// and by itself as a follow-up): under the identity's sync lease, it
// verifies the token (GET /api/v1/accounts/verify_credentials), then walks
// the account's conversations newest first (GET /api/v1/conversations, 40
// a page) down to the first one whose last status is not newer than the
// cursor (the newest status id handled with everything before it), reads
// the thread of each conversation's last status, and keeps the statuses of
// visibility direct newer than the cursor, oldest first. Each is stored
// once (content-addressed, mastoapi.StatusDoc: the status as the instance
// rendered it, its conversation and accounts) and sent process_inbound on
// inboundMastodon, InFlight at a time; inbound-mastodon keeps doubles
// out by the status id. The cursor moves over the longest run of handled
// statuses from the oldest, so a failed status is read again by the next
// sync and none is skipped; a walk cut short (a rate limit, MaxPages) moves
// it not at all. What the budget left goes to a follow-up sync.
//
// A 429, or a page whose X-RateLimit-Remaining reached 0, records the
// window's end on the identity (no sync before it) and publishes
// update_interval on identitiesWorker with a slower poll interval; the
// first sync after it restores CALIOPEN_POLL_MASTODON_INTERVAL. A token the
// instance refuses moves the identity to reauth_required with a
// notification (polling.RequireReauth). Other failures are recorded on the
// identity; the order is acknowledged either way, but for a store failure.
//
// deliver (request/reply, apiv2's SendDraft for protocol mastodon): the
// draft is posted once as a status of visibility direct mentioning its
// recipients (its participants other than From, "@user" on the account's
// instance, "@user@domain" elsewhere), in reply to the status the draft
// answers (External.InReplyTo) when there is one. Exactly once as
// twitter-dm: the draft is taken with a send lease (store.BeginSend), a
// copy is stored before the post, the post carries the attempt's id as
// Idempotency-Key, and a retry that finds the copy finishes the send
// without posting again. Replies: {"error":false,"message":"message <id>
// has been sent."}; refusals by the instance are permanent (send_refused,
// unknown_recipient), a refused token reauth_required, a 429 rate_limited,
// the rest temporary.
package mastodondm

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
	"github.com/caliopen/functions/internal/mastoaccount"
	"github.com/caliopen/functions/internal/store"
)

// Name is the function's name in the contract and stack.yml.
const Name = "mastodon-dm"

// Config configures mastodon-dm: how it reaches the service, and the bridge's
// settings (dmbridge.Settings: MaxPages, InFlight, Budget, ProcessTimeout,
// Lease, SendLease, BaseInterval, MaxInterval).
type Config struct {
	Mastodon mastoaccount.Config
	dmbridge.Settings
}

// EnvBaseInterval names the poll interval, which the scheduler reads too.
const EnvBaseInterval = "CALIOPEN_POLL_MASTODON_INTERVAL"

// env names the settings' variables (besides mastoaccount's, read by LoadConfig):
// MASTODON_DM_MAX_PAGES (default 50), _IN_FLIGHT (16), _PROCESS_TIMEOUT (10s),
// _BUDGET (10s), _LEASE (2m), _SEND_LEASE (1m), _MAX_INTERVAL (24h), and
// EnvBaseInterval.
var env = dmbridge.EnvFor("MASTODON_DM", EnvBaseInterval)

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config { return Config{Settings: dmbridge.DefaultSettings(50)} }

// LoadConfig reads the configuration, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	a, err := mastoaccount.LoadConfig(getenv)
	cfg.Mastodon = a
	return cfg, errors.Join(err, cfg.Settings.Load(getenv, env))
}

// Store is what mastodon-dm needs of the store; *store.SQL has it.
type Store interface {
	dmbridge.Store
}

// Emitter sends orders; *emit.Emitter is one.
type Emitter = dmbridge.Emitter

// Deps are mastodon-dm's dependencies; all but Now are required.
type Deps struct {
	Store   Store
	Blobs   blob.Store
	Keyring mastoaccount.Opener
	Emitter Emitter
	Logger  *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Build builds mastodon-dm from its environment and dependencies.
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

type bridge struct {
	cfg    Config
	deps   Deps
	dialer *mastoaccount.Dialer
	pool   gopool.Pool
}

// New returns the core of mastodon-dm.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mastodon-dm config: %w", err)
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Keyring == nil || deps.Emitter == nil || deps.Logger == nil {
		return nil, errors.New("mastodon-dm: store, blobs, keyring, emitter and logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	b := &bridge{cfg: cfg, deps: deps, dialer: mastoaccount.NewDialer(cfg.Mastodon)}
	return b.core, nil
}

// core serves sync and deliver.
func (b *bridge) core(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o := dmbridge.Orders{Subject: contract.SubjectMastodonDM, Protocol: store.ProtocolMastodon, Service: "mastodon",
		Identities: b.deps.Store, Sync: b.sync, Deliver: b.deliver}
	return o.Serve(ctx, call)
}

func storeErr(op string, err error) error { return dmbridge.StoreErr(op, err) }
