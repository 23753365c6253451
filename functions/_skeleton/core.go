package skeleton

import (
	"context"
	"fmt"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/storeerr"
)

// Reply messages.
const MessageChecked = "checked"

type function struct {
	cfg  Config
	deps Deps
}

// serve handles one validated order: the adapter (fnhttp) decoded it
// against the contract, bounded it by its deadline, and logs its outcome
// once. Return errors classified once: faults.Perm for what a retry cannot
// fix (with fnhttp.WithCode for the reply's code), unmarked or faults.Temp
// for the rest.
func (f *function) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("%s: unexpected payload %T", Name, call.Request.Payload))
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	if _, err := f.deps.Store.GetUser(ctx, o.UserID); err != nil {
		return fnhttp.Result{}, storeerr.Classify("load user "+o.UserID, "unknown_user", err)
	}
	call.Logger.Info("user checked", "user_id", o.UserID)
	return fnhttp.Result{Message: MessageChecked, Reply: contract.DeliverReply{Message: MessageChecked}}, nil
}
