package imapdeliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
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

// Requester sends a request order and returns the reply body;
// *emit.Emitter is one.
type Requester interface {
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
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
	Emitter Requester
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

// send asks smtp-deliver to send the message and returns its reply.
func (d *deliverer) send(ctx context.Context, o *contract.DeliverOrder) (contract.DeliverReply, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	body, err := d.deps.Emitter.Request(ctx, contract.SubjectOutboundSMTP, o)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return contract.DeliverReply{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("request %s: %w",
			contract.SubjectOutboundSMTP, err)), "no_responder")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return contract.DeliverReply{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("no reply from %s in %s: %w",
			contract.SubjectOutboundSMTP, d.cfg.SendTimeout, err)), "delivery_timeout")
	case err != nil:
		return contract.DeliverReply{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("request %s: %w",
			contract.SubjectOutboundSMTP, err)), "delivery_unavailable")
	}
	var r struct {
		Error   *bool  `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Error == nil {
		return contract.DeliverReply{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("reply of %d bytes from %s is not a deliver reply",
			len(body), contract.SubjectOutboundSMTP)), "bad_reply")
	}
	return contract.DeliverReply{Error: *r.Error, Message: r.Message}, nil
}
