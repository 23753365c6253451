package imapworker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/polling"
	"github.com/caliopen/functions/internal/schedule"
	"github.com/caliopen/functions/internal/store"
)

// Store is what imap-worker needs of the store; *store.SQL has it.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	SetIdentityStatus(ctx context.Context, userID, identityID string, st store.IdentityStatus) error
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	DeleteSchedule(ctx context.Context, userID, identityID string) error
	ClearSyncError(ctx context.Context, userID, identityID string) error
}

// Deps are imap-worker's dependencies. Store is required.
type Deps struct {
	Store Store
	// Now defaults to time.Now.
	Now func() time.Time
}

type worker struct{ deps Deps }

// New returns the core of imap-worker.
func New(_ Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil {
		return nil, errors.New("imap-worker: a store is required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	w := &worker{deps: deps}
	return fnhttp.Dispatch("imap-worker", func(o *contract.RemoteOrder) string { return o.Order },
		map[string]fnhttp.OrderHandler[contract.RemoteOrder]{
			contract.OrderAddWorker:    w.add,
			contract.OrderReloadWorker: w.reload,
			contract.OrderRemoveWorker: w.remove,
		}), nil
}

// add activates the identity and schedules a sync now.
func (w *worker) add(ctx context.Context, ord *contract.RemoteOrder) (fnhttp.Result, error) {
	id, err := w.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	started, err := polling.Start(ctx, w.deps.Store, id, w.deps.Now())
	if err != nil {
		return fnhttp.Result{}, err
	}
	if !started {
		return fnhttp.Result{Message: "worker of identity " + id.ID + " is already running"}, nil
	}
	return fnhttp.Result{Message: "worker of identity " + id.ID + " started"}, nil
}

// reload clears the error state and schedules a sync now.
func (w *worker) reload(ctx context.Context, ord *contract.RemoteOrder) (fnhttp.Result, error) {
	id, err := w.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if err := w.deps.Store.ClearSyncError(ctx, id.UserID, id.ID); err != nil {
		return fnhttp.Result{}, polling.StoreError("clear errors of identity "+id.ID, err)
	}
	if id.Status != store.Active {
		return fnhttp.Result{Message: "worker of identity " + id.ID + " is stopped; errors cleared, add_worker starts it"}, nil
	}
	if err := w.deps.Store.SetNextRun(ctx, id.UserID, id.ID, w.deps.Now()); err != nil {
		return fnhttp.Result{}, polling.StoreError("schedule identity "+id.ID, err)
	}
	return fnhttp.Result{Message: "worker of identity " + id.ID + " reloaded"}, nil
}

// remove deactivates the identity and removes its schedule.
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
	return fnhttp.Result{Message: "worker of identity " + id.ID + " stopped"}, nil
}

// identity loads the order's identity and checks it is a remote e-mail
// account.
func (w *worker) identity(ctx context.Context, ord *contract.RemoteOrder) (store.Identity, error) {
	id, err := w.deps.Store.GetIdentity(ctx, ord.UserID, ord.RemoteID)
	if err != nil {
		return store.Identity{}, polling.StoreError("load identity "+ord.RemoteID, err)
	}
	if subj, _ := schedule.SubjectFor(id.Protocol); id.Type != store.RemoteIdentity || subj != contract.SubjectIMAPFetcher {
		return store.Identity{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is a %s %s identity, not a remote e-mail account",
			id.ID, id.Type, id.Protocol)), "not_imap_identity")
	}
	return id, nil
}
