// Package orders is what the functions that change the polling of remote
// identities (identities-orders, imap-worker, twitter-worker) share:
// dispatch of an order to its handler by name, starting and stopping an
// identity's polling, and the classification of store errors.
package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// Handler handles one order whose payload is a *T.
type Handler[T any] func(ctx context.Context, o *T) (fnhttp.Result, error)

// Core returns a core that hands each order to the handler of its name
// (name reads it from the payload). A payload of another type, or an
// order without a handler, is a permanent error.
func Core[T any](function string, name func(*T) string, handlers map[string]Handler[T]) fnhttp.Core {
	return func(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
		o, ok := call.Request.Payload.(*T)
		if !ok {
			return fnhttp.Result{}, faults.Perm(fmt.Errorf("%s: unexpected payload %T", function, call.Request.Payload))
		}
		h, ok := handlers[name(o)]
		if !ok {
			return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("%s: order %q is not handled", function, name(o))),
				contract.CodeUnknownOrder)
		}
		return h(ctx, o)
	}
}

// StoreError classifies a store error of op: a missing identity is
// permanent (code unknown_identity), the rest temporary
// (store_unavailable).
func StoreError(op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	if errors.Is(err, store.ErrNotFound) {
		return fnhttp.WithCode(faults.Perm(err), "unknown_identity")
	}
	return fnhttp.WithCode(faults.Temp(err), "store_unavailable")
}

// Polling is what Start and Stop change in the store; *store.SQL has it.
type Polling interface {
	SetIdentityStatus(ctx context.Context, userID, identityID string, st store.IdentityStatus) error
	SetNextRun(ctx context.Context, userID, identityID string, at time.Time) error
	EnsureSchedule(ctx context.Context, userID, identityID string, at time.Time) (bool, error)
	DeleteSchedule(ctx context.Context, userID, identityID string) error
}

// Start starts the polling of identity id (add_worker): active, with a
// sync due at now. An identity already active and scheduled is left alone
// and Start returns false, so a redelivered order sends no second sync.
func Start(ctx context.Context, st Polling, id store.Identity, now time.Time) (bool, error) {
	created, err := st.EnsureSchedule(ctx, id.UserID, id.ID, now)
	if err != nil {
		return false, StoreError("schedule identity "+id.ID, err)
	}
	if id.Status == store.Active && !created {
		return false, nil
	}
	if err := st.SetIdentityStatus(ctx, id.UserID, id.ID, store.Active); err != nil {
		return false, StoreError("activate identity "+id.ID, err)
	}
	if !created {
		if err := st.SetNextRun(ctx, id.UserID, id.ID, now); err != nil {
			return false, StoreError("schedule identity "+id.ID, err)
		}
	}
	return true, nil
}

// Stop stops the polling of identity id (remove_worker): inactive, no
// schedule. A sync already sent still runs to its end.
func Stop(ctx context.Context, st Polling, id store.Identity) error {
	if err := st.SetIdentityStatus(ctx, id.UserID, id.ID, store.Inactive); err != nil {
		return StoreError("deactivate identity "+id.ID, err)
	}
	if err := st.DeleteSchedule(ctx, id.UserID, id.ID); err != nil {
		return StoreError("unschedule identity "+id.ID, err)
	}
	return nil
}
