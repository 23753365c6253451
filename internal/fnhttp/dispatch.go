package fnhttp

import (
	"context"
	"fmt"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

// OrderHandler handles one order whose payload is a *T.
type OrderHandler[T any] func(ctx context.Context, o *T) (Result, error)

// Dispatch returns a core that hands each order to the handler of its name
// (name reads it from the payload), for the functions that serve several
// orders on one subject. A payload of another type, or an order without a
// handler, is a permanent error (code unknown_order for the latter).
func Dispatch[T any](function string, name func(*T) string, handlers map[string]OrderHandler[T]) Core {
	return func(ctx context.Context, call *Call) (Result, error) {
		o, ok := call.Request.Payload.(*T)
		if !ok {
			return Result{}, faults.Perm(fmt.Errorf("%s: unexpected payload %T", function, call.Request.Payload))
		}
		h, ok := handlers[name(o)]
		if !ok {
			return Result{}, WithCode(faults.Perm(fmt.Errorf("%s: order %q is not handled", function, name(o))),
				contract.CodeUnknownOrder)
		}
		return h(ctx, o)
	}
}
