package imapdeliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Store is what imap-deliver needs of the store; *store.SQL has it.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	GetMessage(ctx context.Context, userID, id string) (store.Message, error)
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
}

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// Deps are imap-deliver's dependencies; all are required.
type Deps struct {
	Store   Store
	Blobs   blob.Store
	Keyring Opener
	// Tokens renews an expired OAuth2 access token before the IMAP login;
	// nil renews nothing.
	Tokens  oauth2creds.Freshener
	Emitter emit.Requester
	Logger  *slog.Logger
}

// deliverer is the function's state.
type deliverer struct {
	cfg  Config
	deps Deps
}

// New returns the core of imap-deliver.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("imap-deliver config: %w", err)
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Keyring == nil || deps.Emitter == nil || deps.Logger == nil {
		return nil, errors.New("imap-deliver: store, blobs, keyring, emitter and logger are required")
	}
	d := &deliverer{cfg: cfg, deps: deps}
	return d.core, nil
}

// core serves one deliver order.
func (d *deliverer) core(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(errors.New("not a deliver order")), "invalid_order")
	}
	log := call.Logger.With("message_id", o.MessageID)
	ident, err := d.deps.Store.GetIdentity(ctx, o.UserID, o.RemoteID)
	if err != nil {
		err = fmt.Errorf("load identity %s: %w", o.RemoteID, err)
		if errors.Is(err, store.ErrNotFound) {
			return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(err), "unknown_identity")
		}
		return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(err), "store_unavailable")
	}
	rep, err := d.send(ctx, o)
	if err != nil || rep.Error || ident.Type != store.RemoteIdentity {
		return fnhttp.Result{Reply: rep, Message: "smtp-deliver answered"}, err
	}
	if err := d.copyToSent(ctx, o.UserID, o.MessageID, ident, log); err != nil {
		log.Warn("sent, but the copy to the Sent folder failed", "outcome", "copy_failed", "err", err.Error())
		rep.Message += " The copy to the Sent folder failed: " + err.Error()
		return fnhttp.Result{Reply: rep, Message: "sent, copy failed"}, nil
	}
	return fnhttp.Result{Reply: rep, Message: "sent, copied"}, nil
}

// send asks smtp-deliver to send the message and returns its reply, a
// failure reply included: it goes back to the requester as it is.
func (d *deliverer) send(ctx context.Context, o *contract.DeliverOrder) (contract.DeliverReply, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	rep, err := emit.Deliver(ctx, d.deps.Emitter, contract.SubjectOutboundSMTP, *o)
	var re *emit.RequestError
	switch {
	case err == nil:
		return rep, nil
	case errors.As(err, &re) && re.Replied:
		return rep, nil
	}
	code := emit.CodeOf(err)
	if code == "" {
		code = contract.CodeUnsent
	}
	return contract.DeliverReply{}, fnhttp.WithCode(faults.Temp(err), code)
}
