package identitiesorders

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

// Store is what identities-orders needs of the store; *store.SQL has it.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	PullSchedule(ctx context.Context, userID, identityID string, at time.Time) error
	DeleteSchedule(ctx context.Context, userID, identityID string) error
	SetPollInterval(ctx context.Context, userID, identityID string, d time.Duration) error
}

// Deps are identities-orders' dependencies. Store is required.
type Deps struct {
	Store Store
	// Now defaults to time.Now.
	Now func() time.Time
}

type orders struct {
	cfg  Config
	deps Deps
}

// New returns the core of identities-orders.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("identities-orders config: %w", err)
	}
	if deps.Store == nil {
		return nil, errors.New("identities-orders: a store is required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	o := &orders{cfg: cfg, deps: deps}
	return fnhttp.Dispatch("identities-orders", func(ord *contract.IdentityOrder) string { return ord.Order },
		map[string]fnhttp.OrderHandler[contract.IdentityOrder]{
			contract.OrderAddIdentity:    o.add,
			contract.OrderUpdateIdentity: o.update,
			contract.OrderDeleteIdentity: o.remove,
			contract.OrderUpdateInterval: o.interval,
		}), nil
}

// add schedules the first sync of a new polled identity now.
func (o *orders) add(ctx context.Context, ord *contract.IdentityOrder) (fnhttp.Result, error) {
	id, err := o.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if !polled(id) {
		return o.unschedule(ctx, id.UserID, id.ID, "identity "+id.ID+" is not polled")
	}
	created, err := o.deps.Store.EnsureSchedule(ctx, id.UserID, id.ID, o.deps.Now())
	if err != nil {
		return fnhttp.Result{}, polling.StoreError("schedule identity "+id.ID, err)
	}
	if !created {
		return fnhttp.Result{Message: "identity " + id.ID + " is already scheduled"}, nil
	}
	return fnhttp.Result{Message: "first sync of identity " + id.ID + " scheduled now"}, nil
}

// update follows a change of the identity's status or interval.
func (o *orders) update(ctx context.Context, ord *contract.IdentityOrder) (fnhttp.Result, error) {
	id, err := o.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	if !polled(id) {
		return o.unschedule(ctx, id.UserID, id.ID, "polling of identity "+id.ID+" stopped")
	}
	now := o.deps.Now()
	created, err := o.deps.Store.EnsureSchedule(ctx, id.UserID, id.ID, now)
	if err != nil {
		return fnhttp.Result{}, polling.StoreError("schedule identity "+id.ID, err)
	}
	if created {
		return fnhttp.Result{Message: "polling of identity " + id.ID + " started"}, nil
	}
	every := o.cfg.Policy.Interval(id.Protocol, id.PollInterval)
	if err := o.deps.Store.PullSchedule(ctx, id.UserID, id.ID, now.Add(every)); err != nil {
		return fnhttp.Result{}, polling.StoreError("reschedule identity "+id.ID, err)
	}
	return fnhttp.Result{Message: fmt.Sprintf("identity %s polled every %s", id.ID, every)}, nil
}

// remove deletes the schedule of a deleted identity.
func (o *orders) remove(ctx context.Context, ord *contract.IdentityOrder) (fnhttp.Result, error) {
	return o.unschedule(ctx, ord.UserID, ord.IdentityID, "polling of identity "+ord.IdentityID+" removed")
}

// interval sets a new poll interval and applies it at once.
func (o *orders) interval(ctx context.Context, ord *contract.IdentityOrder) (fnhttp.Result, error) {
	if err := schedule.CheckMinutes(int(ord.PollIntervall)); err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(err), contract.CodeInvalidField)
	}
	id, err := o.identity(ctx, ord)
	if err != nil {
		return fnhttp.Result{}, err
	}
	every := time.Duration(ord.PollIntervall) * time.Minute
	if id.PollInterval == every {
		return fnhttp.Result{Message: fmt.Sprintf("identity %s already polled every %s", id.ID, every)}, nil
	}
	if err := o.deps.Store.SetPollInterval(ctx, id.UserID, id.ID, every); err != nil {
		return fnhttp.Result{}, polling.StoreError("set poll interval of identity "+id.ID, err)
	}
	if polled(id) {
		if err := o.deps.Store.SetNextRun(ctx, id.UserID, id.ID, o.deps.Now().Add(every)); err != nil {
			return fnhttp.Result{}, polling.StoreError("reschedule identity "+id.ID, err)
		}
	}
	return fnhttp.Result{Message: fmt.Sprintf("identity %s polled every %s", id.ID, every)}, nil
}

// identity loads the order's identity; an unknown one is permanent.
func (o *orders) identity(ctx context.Context, ord *contract.IdentityOrder) (store.Identity, error) {
	id, err := o.deps.Store.GetIdentity(ctx, ord.UserID, ord.IdentityID)
	if err != nil {
		return store.Identity{}, polling.StoreError("load identity "+ord.IdentityID, err)
	}
	return id, nil
}

// unschedule removes a schedule and answers msg.
func (o *orders) unschedule(ctx context.Context, userID, identityID, msg string) (fnhttp.Result, error) {
	if err := o.deps.Store.DeleteSchedule(ctx, userID, identityID); err != nil {
		return fnhttp.Result{}, polling.StoreError("unschedule identity "+identityID, err)
	}
	return fnhttp.Result{Message: msg}, nil
}

// polled reports whether the scheduler syncs id.
func polled(id store.Identity) bool {
	_, ok := schedule.SubjectFor(id.Protocol)
	return ok && id.Type == store.RemoteIdentity && id.Status == store.Active
}
