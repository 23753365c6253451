package imapfetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/imapsync"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/schedule"
	"github.com/caliopen/functions/internal/store"
)

// Store is what imap-fetch needs of the store; *store.SQL has it.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	store.SyncStates
	CreateNotification(ctx context.Context, n store.Notification) (store.Notification, error)
}

// NotificationEmitter signs the notification of a batch's new messages
// (store.NewMessageNotification, long-lived), as the original's
// imap_worker did.
const NotificationEmitter = "imap_worker"

// Emitter sends orders; *emit.Emitter is one.
type Emitter interface {
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
	Publish(ctx context.Context, subject string, payload any) error
}

// Deps are imap-fetch's dependencies; all but Now are required.
type Deps struct {
	Store   Store
	Blobs   blob.Store
	Keyring imapsync.Opener
	// Tokens renews expired OAuth2 access tokens before the login; nil
	// renews nothing.
	Tokens  oauth2creds.Freshener
	Emitter Emitter
	Logger  *slog.Logger
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// fetcher is the function's state.
type fetcher struct {
	cfg  Config
	deps Deps
	// pool runs the messages in flight on kept goroutines: each stores
	// and commits, and reuses the stack an earlier message grew.
	pool gopool.Pool
}

// New returns the core of imap-fetch.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	f, err := newFetcher(cfg, deps)
	if err != nil {
		return nil, err
	}
	return f.core, nil
}

func newFetcher(cfg Config, deps Deps) (*fetcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("imap-fetch config: %w", err)
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Keyring == nil || deps.Emitter == nil || deps.Logger == nil {
		return nil, errors.New("imap-fetch: store, blobs, keyring, emitter and logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &fetcher{cfg: cfg, deps: deps}, nil
}

// core serves one sync or fullfetch order.
func (f *fetcher) core(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.RemoteOrder)
	if !ok || (o.Order != contract.OrderSync && o.Order != contract.OrderFullFetch) {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(errors.New("not a sync or fullfetch order")), "invalid_order")
	}
	log := call.Logger.With("identity_id", o.RemoteID)
	ident, err := f.deps.Store.GetIdentity(ctx, o.UserID, o.RemoteID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("load identity %s: %w", o.RemoteID, err)), "unknown_identity")
	case err != nil:
		return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("load identity %s: %w", o.RemoteID, err)), "store_unavailable")
	case ident.Type != store.RemoteIdentity || !isIMAP(ident.Protocol):
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is not a remote e-mail account", o.RemoteID)), "bad_identity")
	case ident.Status == store.Inactive:
		return fnhttp.Result{Message: "identity inactive, not synced"}, nil
	}
	got, err := f.deps.Store.AcquireSync(ctx, o.UserID, o.RemoteID, f.deps.Now(), f.cfg.Lease)
	if err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("sync lease of %s: %w", o.RemoteID, err)), "store_unavailable")
	}
	if !got {
		if o.Order == contract.OrderFullFetch {
			return fnhttp.Result{}, fnhttp.WithCode(faults.Throttle(errors.New("another sync of the identity is running")), "sync_running")
		}
		return fnhttp.Result{Message: "another sync of the identity is running"}, nil
	}
	released := false
	release := func() error {
		if released {
			return nil
		}
		released = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return f.deps.Store.ReleaseSync(rctx, o.UserID, o.RemoteID)
	}
	defer func() { _ = release() }()
	run := &syncRun{f: f, ident: ident, full: o.Order == contract.OrderFullFetch, log: log}
	out, err := run.sync(ctx)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if err := release(); err != nil {
		log.Warn("sync lease not released", "err", err.Error())
	}
	if out.more {
		// After the release, so the follow-up finds the lease free.
		next := contract.RemoteOrder{Order: contract.OrderSync, RemoteID: ident.ID, UserID: ident.UserID}
		if err := f.deps.Emitter.Publish(ctx, contract.SubjectIMAPFetcher, next); err != nil {
			return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("publish the follow-up sync: %w", err)), "publish_failed")
		}
	}
	return fnhttp.Result{Message: out.String()}, nil
}

// outcome sums up one invocation.
type outcome struct {
	fetched, processed, failed int
	rejected                   int // of processed: refused for good, skipped
	cursor                     uint32
	more                       bool
	failure                    string // the recorded failure, if any
}

// String is the invocation's short report.
func (o outcome) String() string {
	s := "fetched " + strconv.Itoa(o.fetched) + ", processed " + strconv.Itoa(o.processed) +
		", failed " + strconv.Itoa(o.failed) + ", cursor " + strconv.FormatUint(uint64(o.cursor), 10)
	if o.rejected > 0 {
		s += ", rejected " + strconv.Itoa(o.rejected)
	}
	if o.more {
		s += ", more to come"
	}
	if o.failure != "" {
		s += "; failure recorded: " + o.failure
	}
	return s
}

// isIMAP says whether a remote identity of protocol is polled over IMAP:
// "email", and "imap", which the original's API and imap-bridge wrote for
// the same accounts (the scheduler polls both on IMAPfetcher).
func isIMAP(protocol string) bool {
	subject, _ := schedule.SubjectFor(protocol)
	return subject == contract.SubjectIMAPFetcher
}
