package dmbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/polling"
	"github.com/caliopen/functions/internal/store"
)

// Emitter sends orders; *emit.Emitter is one.
type Emitter interface {
	Requester
	Publisher
}

// Store is what every bridge needs of the store; *store.SQL has it. A
// bridge's own Store adds what its service needs.
type Store interface {
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	store.SyncStates
	SetThrottle(ctx context.Context, userID, identityID string, until time.Time) error
	SetIdentityInfos(ctx context.Context, userID, identityID string, set map[string]string) error
	GetMessage(ctx context.Context, userID, id string) (store.Message, error)
	BeginSend(ctx context.Context, userID, id string, lease time.Duration, a store.SendAttempt) (store.Message, error)
	MarkSent(ctx context.Context, userID, id string, info store.SentInfo) (store.Message, error)
	MarkSendFailed(ctx context.Context, userID, id, reason string) error
	polling.ReauthStore
}

// Orders is what a bridge does with the orders of its subject.
type Orders struct {
	// Subject is the bridge's subject (contract.SubjectTwitterDM …),
	// Protocol its identities' protocol (store.ProtocolTwitter …) and
	// Service the service's name in messages ("twitter").
	Subject, Protocol, Service string
	Identities                 interface {
		GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
	}
	Sync    func(ctx context.Context, ident store.Identity, log *slog.Logger) (fnhttp.Result, error)
	Deliver func(ctx context.Context, ident store.Identity, messageID string, log *slog.Logger) (string, error)
}

// Serve serves one order: the identity it names loaded and checked (a
// remote identity of the bridge's protocol), then sync or deliver.
func (o Orders) Serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	order, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(errors.New("not a "+o.Subject+" order")), "invalid_order")
	}
	ident, err := o.Identities.GetIdentity(ctx, order.UserID, order.RemoteID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("load identity %s: %w", order.RemoteID, err)), "unknown_identity")
	case err != nil:
		return fnhttp.Result{}, StoreErr("load identity "+order.RemoteID, err)
	case ident.Type != store.RemoteIdentity || ident.Protocol != o.Protocol:
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is not a remote %s account", order.RemoteID, o.Service)),
			"bad_identity")
	}
	log := call.Logger.With("identity_id", ident.ID)
	switch order.Order {
	case contract.OrderSync:
		return o.Sync(ctx, ident, log)
	case contract.OrderDeliver:
		msg, err := o.Deliver(ctx, ident, order.MessageID, log.With("message_id", order.MessageID))
		if err != nil {
			return fnhttp.Result{}, err
		}
		return fnhttp.Result{Reply: contract.DeliverReply{Error: false, Message: msg}, Message: "sent"}, nil
	}
	return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("order %q is not sync or deliver", order.Order)), "invalid_order")
}

// Syncer runs a sync under the identity's sync lease.
type Syncer struct {
	Store interface {
		AcquireSync(ctx context.Context, userID, identityID string, now time.Time, lease time.Duration) (bool, error)
		ReleaseSync(ctx context.Context, userID, identityID string) error
	}
	Requester Requester
	// Subject is where the follow-up sync is sent.
	Subject string
	Lease   time.Duration
}

// Sync runs held under ident's sync lease, unless the identity is not
// active, is rate limited at now, or another sync holds the lease. When
// held says more is to come, a follow-up sync is sent on Subject after the
// release (so that it finds the lease free), as the scheduler sends it: a
// request, which the connector hands off to its stream.
func (s Syncer) Sync(ctx context.Context, ident store.Identity, now time.Time, log *slog.Logger,
	held func(ctx context.Context) (res fnhttp.Result, more bool, err error)) (fnhttp.Result, error) {
	switch {
	case ident.Status != store.Active:
		return fnhttp.Result{Message: "identity " + string(ident.Status) + ", not synced"}, nil
	case now.Before(ident.Sync.ThrottledUntil):
		return fnhttp.Result{Message: "rate limited until " + ident.Sync.ThrottledUntil.UTC().Format(time.RFC3339) + ", not synced"}, nil
	}
	got, err := s.Store.AcquireSync(ctx, ident.UserID, ident.ID, now, s.Lease)
	if err != nil {
		return fnhttp.Result{}, StoreErr("sync lease of "+ident.ID, err)
	}
	if !got {
		return fnhttp.Result{Message: "another sync of the identity is running"}, nil
	}
	res, more, err := held(ctx)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if rerr := s.Store.ReleaseSync(rctx, ident.UserID, ident.ID); rerr != nil {
		log.Warn("sync lease not released", "err", rerr.Error())
	}
	if err != nil || !more {
		return res, err
	}
	fctx, fcancel := context.WithTimeout(ctx, 5*time.Second)
	defer fcancel()
	order := contract.RemoteOrder{Order: contract.OrderSync, RemoteID: ident.ID, UserID: ident.UserID}
	if err := emit.Submit(fctx, s.Requester, s.Subject, order); err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Temp(fmt.Errorf("send the follow-up sync: %w", err)), "publish_failed")
	}
	res.Message += ", more to come"
	return res, nil
}

// Sends is what taking a draft for sending needs of the store.
type Sends interface {
	Drafts
	BeginSend(ctx context.Context, userID, id string, lease time.Duration, a store.SendAttempt) (store.Message, error)
}

// Taken is a draft taken for sending.
type Taken struct {
	// Done, when not empty, is the deliver's reply: the draft was sent
	// already, and nothing is left to do.
	Done    string
	Msg     store.Message
	Attempt store.SendAttempt
	// Earlier says that the attempt is an earlier one's whose lease ran
	// out; Stored that its sent copy was stored (and read into Take's
	// copy): it may have been handed off, and only the mark is left.
	Earlier, Stored bool
}

// Take takes draft id, sent from ident, with a send lease, as a new
// attempt made at now unless an earlier one holds it (store.BeginSend).
// An earlier attempt's sent copy, when stored, is read into copy. A draft
// that cannot be taken is explained (NotTaken); one that is not ident's
// is released. A failure to read the copy leaves the draft sending: a
// retry after the lease looks again.
func Take(ctx context.Context, st Sends, blobs blob.Store, ident store.Identity, id string, lease time.Duration, now time.Time,
	copy any, log *slog.Logger) (Taken, error) {
	try := store.SendAttempt{RawMsgID: uuid.NewString(), Date: now.Truncate(time.Second)}
	m, err := st.BeginSend(ctx, ident.UserID, id, lease, try)
	if err != nil {
		done, err := NotTaken(ctx, st, ident.UserID, id, err, log)
		return Taken{Done: done}, err
	}
	a, ok := store.Attempted(m)
	if !ok {
		return Taken{}, Release(ctx, st, m, StoreErr("begin send of "+id, errors.New("the send attempt was not recorded")), log)
	}
	if len(m.IdentityIDs) == 0 || m.IdentityIDs[0] != ident.ID {
		return Taken{}, Release(ctx, st, m, fnhttp.WithCode(faults.Perm(fmt.Errorf("message %s is not sent from identity %s", id, ident.ID)),
			"bad_identity"), log)
	}
	t := Taken{Msg: m, Attempt: a, Earlier: a.RawMsgID != try.RawMsgID}
	if t.Earlier {
		t.Stored, err = StoredCopy(ctx, blobs, a.RawMsgID, copy)
		if err != nil {
			return Taken{}, err
		}
	}
	return t, nil
}
