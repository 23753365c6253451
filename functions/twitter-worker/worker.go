// Package twitterworker is the twitter-worker function: add_worker,
// reload_worker and remove_worker on twitter_worker (queue twitterworkers,
// publish/subscribe), the seed's twitter-bridge WorkerMsgHandler.
//
// As for e-mail accounts (imap-worker), a "worker" is an account's
// polling: the scheduler sends sync on twitter_dm when the identity is due,
// and twitter-dm fetches and leaves. remote_id names the identity.
//
//   - add_worker checks the account's credentials with X (GET
//     /2/users/me), records its X user id and username on the identity
//     (infos twitterid and screen_name), then starts polling: the identity
//     becomes active with a sync due now. An identity already active and
//     scheduled is left alone (a redelivered add_worker sends no second
//     sync).
//   - reload_worker re-reads the credentials and settings the same way,
//     clears the error state and the rate-limit window, and schedules a
//     sync now when the identity is active, or reauth_required (new
//     credentials: it becomes active again and resumes from its cursor).
//
// Credentials that X refuses (or a refresh token it refuses) move an
// active identity to reauth_required, with a notification, as twitter-dm
// does (polling.RequireReauth).
//   - remove_worker stops polling (inactive, no schedule) and forgets the
//     account's cursor: a later add_worker imports what X still holds, and
//     the event ids keep doubles out. An unknown identity succeeds.
//
// Errors: unknown identity (add, reload) and an identity that is not a
// remote twitter account are permanent (unknown_identity,
// not_twitter_identity); credentials that X refuses, or that cannot be
// used, are permanent (bad_credentials); X rate limiting is throttled
// (rate_limited: the connector redelivers later); X or the store failing
// are temporary (x_unavailable, store_unavailable).
package twitterworker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/polling"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xaccount"
	"github.com/caliopen/functions/internal/xapi"
	"github.com/caliopen/functions/internal/xinbound"
)

// Store is what twitter-worker needs of the store; *store.SQL has it.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	SetIdentityStatus(ctx context.Context, userID, identityID string, st store.IdentityStatus) error
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	DeleteSchedule(ctx context.Context, userID, identityID string) error
	ClearSyncError(ctx context.Context, userID, identityID string) error
	SetThrottle(ctx context.Context, userID, identityID string, until time.Time) error
	SetIdentityInfos(ctx context.Context, userID, identityID string, set map[string]string) error
	SaveSyncProgress(ctx context.Context, userID, identityID string, p store.SyncProgress) error
	polling.ReauthStore
}

// Deps are twitter-worker's dependencies; Store and Keyring are
// required.
type Deps struct {
	Store   Store
	Keyring xaccount.Opener
	// Tokens renews expired OAuth2 access tokens; nil renews nothing.
	Tokens xaccount.Tokens
	// Now defaults to time.Now.
	Now func() time.Time
}

// Config configures twitter-worker: how it reaches X.
type Config struct{ X xaccount.Config }

// LoadConfig reads the configuration from getenv.
func LoadConfig(getenv func(string) string) (Config, error) {
	x, err := xaccount.LoadConfig(getenv)
	return Config{X: x}, err
}

// Build builds twitter-worker from its environment (LoadConfig, every problem at
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

type worker struct {
	cfg  Config
	deps Deps
}

// New returns the core of twitter-worker.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil || deps.Keyring == nil {
		return nil, errors.New("twitter-worker: a store and a keyring are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	w := &worker{cfg: cfg, deps: deps}
	return fnhttp.Dispatch("twitter-worker", func(o *contract.RemoteOrder) string { return o.Order },
		map[string]fnhttp.OrderHandler[contract.RemoteOrder]{
			contract.OrderAddWorker:    w.add,
			contract.OrderReloadWorker: w.reload,
			contract.OrderRemoveWorker: w.remove,
		}), nil
}

// add checks the account, activates the identity and schedules a sync now.
func (w *worker) add(ctx context.Context, ord *contract.RemoteOrder) (fnhttp.Result, error) {
	id, err := w.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	me, err := w.check(ctx, id)
	if err != nil {
		return fnhttp.Result{}, err
	}
	started, err := polling.Start(ctx, w.deps.Store, id, w.deps.Now())
	if err != nil {
		return fnhttp.Result{}, err
	}
	if !started {
		return fnhttp.Result{Message: "worker of identity " + id.ID + " (@" + me.Username + ") is already running"}, nil
	}
	return fnhttp.Result{Message: "worker of identity " + id.ID + " (@" + me.Username + ") started"}, nil
}

// reload re-checks the account, clears its errors and throttle, and
// schedules a sync now.
func (w *worker) reload(ctx context.Context, ord *contract.RemoteOrder) (fnhttp.Result, error) {
	id, err := w.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	me, err := w.check(ctx, id)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if err := w.deps.Store.ClearSyncError(ctx, id.UserID, id.ID); err != nil {
		return fnhttp.Result{}, polling.StoreError("clear errors of identity "+id.ID, err)
	}
	if err := w.deps.Store.SetThrottle(ctx, id.UserID, id.ID, time.Time{}); err != nil {
		return fnhttp.Result{}, polling.StoreError("clear the throttle of identity "+id.ID, err)
	}
	if id.Status == store.ReauthRequired { // new credentials: polling resumes from the cursor
		if _, err := polling.Start(ctx, w.deps.Store, id, w.deps.Now()); err != nil {
			return fnhttp.Result{}, err
		}
		return fnhttp.Result{Message: "worker of identity " + id.ID + " (@" + me.Username + ") resumed with new credentials"}, nil
	}
	if id.Status != store.Active {
		return fnhttp.Result{Message: "worker of identity " + id.ID + " is stopped; errors cleared, add_worker starts it"}, nil
	}
	if err := w.deps.Store.SetNextRun(ctx, id.UserID, id.ID, w.deps.Now()); err != nil {
		return fnhttp.Result{}, polling.StoreError("schedule identity "+id.ID, err)
	}
	return fnhttp.Result{Message: "worker of identity " + id.ID + " (@" + me.Username + ") reloaded"}, nil
}

// remove deactivates the identity, removes its schedule and forgets its
// cursor.
func (w *worker) remove(ctx context.Context, ord *contract.RemoteOrder) (fnhttp.Result, error) {
	id, err := w.identity(ctx, ord)
	if errors.Is(err, store.ErrNotFound) {
		return fnhttp.Result{Message: "identity " + ord.RemoteID + " is gone; nothing to stop"}, nil
	}
	if err != nil {
		return fnhttp.Result{}, err
	}
	if err := polling.Stop(ctx, w.deps.Store, id); err != nil {
		return fnhttp.Result{}, err
	}
	if err := w.deps.Store.SaveSyncProgress(ctx, id.UserID, id.ID, store.SyncProgress{At: w.deps.Now()}); err != nil {
		return fnhttp.Result{}, polling.StoreError("forget the cursor of identity "+id.ID, err)
	}
	return fnhttp.Result{Message: "worker of identity " + id.ID + " stopped"}, nil
}

// check opens the account and asks X who it is, recording the answer.
func (w *worker) check(ctx context.Context, id store.Identity) (xapi.User, error) {
	acct, err := xaccount.Open(ctx, w.cfg.X, id, w.deps.Keyring, w.deps.Tokens)
	if err == nil {
		var me xapi.User
		if me, err = xaccount.Who(ctx, acct, w.deps.Store, true); err == nil {
			return me, nil
		}
	}
	switch _, limited := xapi.RateLimited(err); {
	case limited:
		return xapi.User{}, fnhttp.WithCode(faults.Throttle(err), "rate_limited")
	case xaccount.NeedsReauth(err):
		// An active account whose credentials died waits for new ones.
		if _, rerr := polling.RequireReauth(ctx, w.deps.Store, id, xinbound.NotificationEmitter,
			"X refused the account's credentials: authorize the account again"); rerr != nil {
			return xapi.User{}, rerr
		}
		return xapi.User{}, fnhttp.WithCode(faults.Perm(err), "bad_credentials")
	case faults.IsPermanent(err):
		return xapi.User{}, fnhttp.WithCode(faults.Perm(err), "bad_credentials")
	}
	return xapi.User{}, fnhttp.WithCode(faults.Temp(err), "x_unavailable")
}

// identity loads the order's identity and checks it is a remote twitter
// account.
func (w *worker) identity(ctx context.Context, ord *contract.RemoteOrder) (store.Identity, error) {
	id, err := w.deps.Store.GetIdentity(ctx, ord.UserID, ord.RemoteID)
	if err != nil {
		return store.Identity{}, polling.StoreError("load identity "+ord.RemoteID, err)
	}
	if id.Type != store.RemoteIdentity || id.Protocol != store.ProtocolTwitter {
		return store.Identity{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is a %s %s identity, not a remote twitter account",
			id.ID, id.Type, id.Protocol)), "not_twitter_identity")
	}
	return id, nil
}
