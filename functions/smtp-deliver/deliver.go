package smtpdeliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/processinbound"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Store is what smtp-deliver needs of the store; *store.SQL has it.
type Store interface {
	GetMessage(ctx context.Context, userID, id string) (store.Message, error)
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	LookupIdentities(ctx context.Context, protocol, identifier string) ([]store.Identity, error)
	BeginSend(ctx context.Context, userID, id string, lease time.Duration, a store.SendAttempt) (store.Message, error)
	MarkSent(ctx context.Context, userID, id string, info store.SentInfo) (store.Message, error)
	MarkSendFailed(ctx context.Context, userID, id, reason string) error
}

// Opener opens sealed credentials; *secrets.Keyring is one.
type Opener interface {
	Open(s secrets.Sealed, context []byte) ([]byte, error)
}

// SendFunc hands a message to an SMTP server (an outbound.Pool's Send).
type SendFunc func(ctx context.Context, srv outbound.Server, from string, to []string, raw []byte) error

// Deps are smtp-deliver's dependencies. Store, Blobs, Keyring and Logger
// are required, and Requester with Config.LocalDelivery.
type Deps struct {
	Store   Store
	Blobs   blob.Store
	Keyring Opener
	// Requester sends process_inbound for hosted recipients
	// (*emit.Emitter).
	Requester processinbound.Requester
	// Tokens renews expired OAuth2 access tokens of remote identities
	// before sending; nil renews nothing.
	Tokens oauth2creds.Freshener
	Logger *slog.Logger
	// Send defaults to an outbound.Pool's Send.
	Send SendFunc
	// Now defaults to time.Now.
	Now func() time.Time
}

// deliverer is the function's state: configuration and dependencies.
type deliverer struct {
	cfg  Config
	deps Deps
	// afterHandoff runs after the server accepted a message; tests make
	// it fail to play a crash before the mark.
	afterHandoff func() error
}

// New returns the core of smtp-deliver.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	d, err := newDeliverer(cfg, deps)
	if err != nil {
		return nil, err
	}
	return d.core, nil
}

func newDeliverer(cfg Config, deps Deps) (*deliverer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("smtp-deliver config: %w", err)
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Keyring == nil || deps.Logger == nil {
		return nil, errors.New("smtp-deliver: store, blobs, keyring and logger are required")
	}
	if cfg.LocalDelivery && deps.Requester == nil {
		return nil, errors.New("smtp-deliver: local delivery needs a requester (NATS)")
	}
	if deps.Send == nil {
		// Connections to the relay (and to the remote accounts' servers)
		// stay open between messages.
		deps.Send = outbound.NewPool(0, 0).Send
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &deliverer{cfg: cfg, deps: deps}, nil
}

// core serves one deliver order.
func (d *deliverer) core(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(errors.New("not a deliver order")), "invalid_order")
	}
	log := call.Logger.With("message_id", o.MessageID)
	msg, err := d.deliver(ctx, o.UserID, o.MessageID, log)
	if err != nil {
		return fnhttp.Result{}, err
	}
	return fnhttp.Result{Reply: contract.DeliverReply{Error: false, Message: msg}, Message: "sent"}, nil
}

// sentText is the success message, as the original's.
func sentText(id string) string { return "message " + id + " has been sent." }

// deliver sends message id of user once and returns the reply's message.
func (d *deliverer) deliver(ctx context.Context, userID, id string, log *slog.Logger) (string, error) {
	// Taking the lease first costs one store round trip in the common
	// case; notTaken reads the message when the lease is refused. The
	// same write records this attempt: the id its sent copy will be
	// stored under, and its Date.
	try := store.SendAttempt{RawMsgID: uuid.NewString(), Date: d.deps.Now().Truncate(time.Second)}
	m, err := d.deps.Store.BeginSend(ctx, userID, id, d.cfg.SendLease, try)
	if err != nil {
		return d.notTaken(ctx, userID, id, err, log)
	}
	a, ok := store.Attempted(m)
	if !ok {
		return "", d.release(ctx, m, storeErr("begin send of "+id, errors.New("the send attempt was not recorded"), ""), log)
	}
	if a.RawMsgID != try.RawMsgID {
		// An earlier attempt died holding the draft. It handed the
		// message off only if it had stored its copy first.
		mark, stored, err := d.storedCopy(ctx, a)
		if err != nil {
			return "", err // the draft stays sending: a retry after the lease looks again
		}
		if stored {
			log.Warn("finishing a send that an earlier attempt may have handed off", "outcome", "recovered")
			hosted, err := d.hostedOf(ctx, m)
			if err != nil {
				return "", err // the draft stays sending: a retry after the lease looks again
			}
			return d.finish(ctx, m, mark, hosted, true, log)
		}
		log.Info("sending a draft that an earlier attempt left before storing its copy", "outcome", "taken_over")
	}
	return d.send(ctx, m, a, log)
}

// notTaken explains a BeginSend that failed: the draft was sent meanwhile
// (success), is being sent, or the store failed.
func (d *deliverer) notTaken(ctx context.Context, userID, id string, err error, log *slog.Logger) (string, error) {
	if errors.Is(err, store.ErrNotFound) {
		return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("unknown message: user %s has no message %s", userID, id)),
			"unknown_message")
	}
	if !errors.Is(err, store.ErrConflict) {
		return "", storeErr("begin send of "+id, err, "unknown_message")
	}
	m, gerr := d.deps.Store.GetMessage(ctx, userID, id)
	switch {
	case gerr != nil:
		return "", storeErr("load message "+id, gerr, "unknown_message")
	case m.SendState == store.SendSent:
		log.Info("already sent", "outcome", "duplicate")
		return sentText(id), nil
	case m.SendState == store.SendSending:
		return "", fnhttp.WithCode(faults.Temp(fmt.Errorf("message %s is being sent by another attempt", id)),
			"send_in_progress")
	}
	return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("message %s is not a draft", id)), "not_a_draft")
}

// send builds draft m as attempt a, stores the copy, hands it off and
// finishes it.
func (d *deliverer) send(ctx context.Context, m store.Message, a store.SendAttempt, log *slog.Logger) (string, error) {
	rt, err := d.route(ctx, m)
	if err != nil {
		return "", d.release(ctx, m, err, log)
	}
	built, err := outbound.Build(ctx, outbound.Input{Message: m, Domain: d.cfg.MessageIDDomain,
		Date: a.Date}, d.deps.Blobs)
	if err != nil {
		return "", d.release(ctx, m, buildErr(err), log)
	}
	rcpts, err := d.splitRecipients(ctx, rt, built.Recipients)
	if err != nil {
		return "", d.release(ctx, m, err, log)
	}
	if len(rcpts.remote) > 0 && rt.server.Addr == "" {
		return "", d.release(ctx, m, fnhttp.WithCode(faults.Perm(errors.New(
			"no relay is configured for recipients outside the hosted domains")), "no_relay"), log)
	}
	// From here on a retry treats the message as (possibly) handed off.
	mark, err := d.storeCopy(ctx, a, built)
	if err != nil {
		return "", d.release(ctx, m, err, log)
	}
	if len(rcpts.remote) > 0 {
		start := time.Now()
		err := d.deps.Send(ctx, rt.server, built.From, rcpts.remote, built.Raw)
		if err != nil {
			return "", d.sendFailed(ctx, m, rt, mark, err, log)
		}
		log.Info("handed off", "server", rt.server.String(), "rcpts", len(rcpts.remote),
			"ms", time.Since(start).Milliseconds())
		if d.afterHandoff != nil {
			if err := d.afterHandoff(); err != nil {
				return "", err
			}
		}
	}
	return d.finish(ctx, m, mark, rcpts.hosted, len(rcpts.remote) > 0, log)
}

// finish has the hosted recipients receive the sent copy mark names, then
// marks draft m sent with that copy (writing the copy's record).
// handedOff says whether the copy went (or may have gone) to a server.
//
// A hosted recipient that may get the mail on a retry (inbound-email not
// answering, a temporary refusal) leaves the draft sending with its
// attempt: a retry after the lease finishes the send with the same copy,
// and the recipients that have it find it a duplicate. Hosted recipients
// refusing it for good fail the send with inbound-email's code; the draft
// is marked sent all the same when the mail went elsewhere too, failed
// otherwise.
func (d *deliverer) finish(ctx context.Context, m store.Message, mark marker, hosted []store.Identity, handedOff bool,
	log *slog.Logger) (string, error) {
	var refused error
	if rcpts := targets(m.UserID, hosted); len(rcpts) > 0 {
		n, err := d.receiveHosted(ctx, mark, rcpts, log)
		switch {
		case err != nil && !faults.IsPermanent(err):
			log.Warn("hosted recipients missing; the draft stays sending until its lease ends", "outcome", "temporary")
			return "", err
		case err != nil && n == 0 && !handedOff:
			defer d.dropCopy(ctx, mark, log)
			return "", d.release(ctx, m, err, log)
		}
		refused = err
	}
	if _, err := d.deps.Store.MarkSent(ctx, m.UserID, m.ID, mark.info()); err != nil {
		return "", fnhttp.WithCode(faults.Temp(fmt.Errorf("mark message %s sent (it was handed off; a retry finishes it): %w",
			m.ID, err)), "store_unavailable")
	}
	if refused != nil {
		log.Warn("sent, but refused by hosted recipients", "outcome", "partly_refused")
		return "", refused
	}
	log.Info("sent", "outcome", "sent")
	return sentText(m.ID), nil
}
