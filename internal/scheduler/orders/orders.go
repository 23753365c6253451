// Package orders is what the functions that change the polling of remote
// identities (identities-orders, imap-worker) share: dispatch of an order
// to its handler by name, and the classification of store errors.
package orders

import (
	"context"
	"errors"
	"fmt"

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
