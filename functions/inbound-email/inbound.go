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
	MsgStored    = "OK : inbound email message proceeded"
	MsgDuplicate = "message already imported for this user"
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
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
	GetIdentity(ctx context.Context, userID, id string) (store.Identity, error)
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
	id, err := f.identity(ctx, o)
	if err != nil {
		return fnhttp.Result{}, err
	}
	raw, err := f.load(ctx, o.MessageID)
	if err != nil {
		return fnhttp.Result{}, err
	}
	out, err := f.q.Deliver(ctx, inbound.Input{UserID: o.UserID, IdentityID: id.ID, Identifier: id.Identifier,
		RawID: o.MessageID, Raw: raw})
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

// identity checks that remote_id is an active e-mail identity of the user:
// local (the SMTP listener) or remote (imap-fetch, as the original's
// [user_id, remote_identity_id] recipient).
func (f *function) identity(ctx context.Context, o *contract.DeliverOrder) (store.Identity, error) {
	id, err := f.deps.Store.GetIdentity(ctx, o.UserID, o.RemoteID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Identity{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)),
			CodeUnknownIdentity)
	}
	if err != nil {
		return store.Identity{}, fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)
	}
	email := id.Protocol == store.ProtocolEmail || (id.Type == store.RemoteIdentity && id.Protocol == "imap")
	if (id.Type != store.LocalIdentity && id.Type != store.RemoteIdentity) || !email || id.Status != store.Active {
		return store.Identity{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s is not an active e-mail identity",
			o.RemoteID, o.UserID)), CodeBadIdentity)
	}
	return id, nil
}

// load reads the raw message's bytes.
func (f *function) load(ctx context.Context, rawID string) ([]byte, error) {
	r, err := f.deps.Store.GetRaw(ctx, rawID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s does not exist", rawID)), CodeRawNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load raw message %s: %w", rawID, err)
	}
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
