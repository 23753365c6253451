package inboundemail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/store"
)

// Name is the function's name in the contract and stack.yml.
const Name = "inbound-email"

// Reply messages of success.
const (
	MsgStored    = contract.InboundStored
	MsgDuplicate = contract.InboundDuplicate
)

// Error codes of permanent failures.
const (
	CodeRawNotFound     = "raw_not_found"
	CodeRawMissing      = "raw_missing"
	CodeRawTooLarge     = "raw_too_large"
	CodeUnknownIdentity = "unknown_identity"
	CodeBadIdentity     = "bad_identity"
)

// Store is what the function needs from the record store (*store.SQL).
type Store interface {
	inbound.Store
	GetInboundTarget(ctx context.Context, userID, identityID, rawID string) (store.InboundTarget, error)
}

type function struct {
	cfg  Config
	deps Deps
	q    *inbound.Qualifier
}

// New returns the function's core. Store and Blobs are required.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	var errs []error
	if deps.Store == nil {
		errs = append(errs, errors.New("inbound-email: a store is required"))
	}
	if deps.Blobs == nil {
		errs = append(errs, errors.New("inbound-email: a blob store is required"))
	}
	if cfg.MaxRawBytes < 0 {
		errs = append(errs, fmt.Errorf("inbound-email: max raw bytes %d is negative", cfg.MaxRawBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.MaxRawBytes == 0 {
		cfg.MaxRawBytes = DefaultMaxRawBytes
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	f := &function{cfg: cfg, deps: deps, q: &inbound.Qualifier{Store: deps.Store, Now: time.Now}}
	return f.serve, nil
}

func (f *function) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("payload %T is not a process_inbound order", call.Request.Payload))
	}
	t, err := f.target(ctx, o)
	if err != nil {
		return fnhttp.Result{}, err
	}
	raw, err := f.load(ctx, t.Raw)
	if err != nil {
		return fnhttp.Result{}, err
	}
	// Mail a remote identity fetched (imap-fetch) is notified once a batch,
	// by imap-fetch, as the original's imap_worker did; SMTP mail here.
	out, err := f.q.Deliver(ctx, inbound.Input{UserID: o.UserID, IdentityID: t.Identity.ID, Identifier: t.Identity.Identifier,
		ContactID: t.ContactID, RawID: o.MessageID, Raw: raw, Batched: t.Identity.Type == store.RemoteIdentity})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			err = faults.Perm(err)
		}
		return fnhttp.Result{}, fmt.Errorf("process raw message %s: %w", o.MessageID, err)
	}
	msg := MsgStored
	if out.Dup {
		msg = MsgDuplicate
	}
	call.Logger.Info("inbound message", "raw_id", o.MessageID, "message_id", out.Message.ID,
		"discussion_id", out.Message.DiscussionID, "dup", out.Dup, "bytes", len(raw))
	return fnhttp.Result{Message: msg, Reply: contract.InboundReply{Message: msg, MessageID: out.Message.ID,
		DiscussionID: out.Message.DiscussionID}}, nil
}

// target reads, in one store query, the identity, the user's own contact
// and the raw message's record. It checks that remote_id is an active
// e-mail identity of the user: local (the SMTP listener) or remote
// (imap-fetch, as the original's [user_id, remote_identity_id] recipient),
// and that the raw message is recorded.
func (f *function) target(ctx context.Context, o *contract.DeliverOrder) (store.InboundTarget, error) {
	t, err := f.deps.Store.GetInboundTarget(ctx, o.UserID, o.RemoteID, o.MessageID)
	if errors.Is(err, store.ErrNotFound) {
		return store.InboundTarget{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)),
			CodeUnknownIdentity)
	}
	if err != nil {
		return store.InboundTarget{}, fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)
	}
	id := t.Identity
	email := id.Protocol == store.ProtocolEmail || (id.Type == store.RemoteIdentity && id.Protocol == "imap")
	if (id.Type != store.LocalIdentity && id.Type != store.RemoteIdentity) || !email || id.Status != store.Active {
		return store.InboundTarget{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s is not an active e-mail identity",
			o.RemoteID, o.UserID)), CodeBadIdentity)
	}
	if t.Raw.ID == "" {
		return store.InboundTarget{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s does not exist", o.MessageID)),
			CodeRawNotFound)
	}
	return t, nil
}

// load reads the bytes of raw message r.
func (f *function) load(ctx context.Context, r store.RawMessage) ([]byte, error) {
	rawID := r.ID
	if r.Size > f.cfg.MaxRawBytes {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s is %d bytes, over the limit of %d",
			rawID, r.Size, f.cfg.MaxRawBytes)), CodeRawTooLarge)
	}
	rc, err := f.deps.Blobs.Get(ctx, r.BlobKey)
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s: bytes missing from the blob store: %w", rawID, err)),
			CodeRawMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("open raw message %s: %w", rawID, err)
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, r.Size+bytes.MinRead)) // r.Size is within the limit
	if _, err := buf.ReadFrom(io.LimitReader(rc, f.cfg.MaxRawBytes+1)); err != nil {
		return nil, fmt.Errorf("read raw message %s: %w", rawID, err)
	}
	b := buf.Bytes()
	if int64(len(b)) > f.cfg.MaxRawBytes {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s is over the limit of %d bytes",
			rawID, f.cfg.MaxRawBytes)), CodeRawTooLarge)
	}
	return b, nil
}
