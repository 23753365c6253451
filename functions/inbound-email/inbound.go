package inboundemail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
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

// Store is what the function needs from the record store (*store.SQL).
type Store interface {
	inbound.Store
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
	ListIdentities(ctx context.Context, userID string, f store.IdentityFilter) ([]store.Identity, error)
	PutRaw(ctx context.Context, r store.RawMessage) (store.RawMessage, error)
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
	raw, derived, err := f.load(ctx, o.MessageID)
	var out inbound.Outcome
	if err == nil {
		out, err = f.deliver(ctx, o, derived, raw)
	}
	if err != nil {
		if derived != "" && faults.IsPermanent(err) {
			f.keepRaw(ctx, o.MessageID, derived, call.Logger)
		}
		return fnhttp.Result{}, err
	}
	msg := contract.InboundStored
	if out.Dup {
		msg = contract.InboundDuplicate
	}
	call.Logger.Info("inbound message", "raw_id", o.MessageID, "message_id", out.Message.ID,
		"discussion_id", out.Message.DiscussionID, "dup", out.Dup, "bytes", len(raw))
	return fnhttp.Result{Message: msg, Reply: contract.InboundReply{Message: msg, MessageID: out.Message.ID,
		DiscussionID: out.Message.DiscussionID}}, nil
}

// deliver stores raw for the order's user and identity; the raw message is
// recorded with it when derived (its key) is set.
func (f *function) deliver(ctx context.Context, o *contract.DeliverOrder, derived string, raw []byte) (inbound.Outcome, error) {
	identity := o.RemoteID
	if identity == "" {
		var err error
		if identity, err = f.identityOf(ctx, o.UserID, raw); err != nil {
			return inbound.Outcome{}, err
		}
	}
	out, err := f.q.Deliver(ctx, inbound.Input{UserID: o.UserID, IdentityID: identity, RawID: o.MessageID,
		RawKey: derived, Raw: raw})
	switch {
	case err == nil:
		return out, nil
	case errors.Is(err, inbound.ErrUnknownIdentity):
		return out, fnhttp.WithCode(faults.Perm(err), contract.CodeUnknownIdentity)
	case errors.Is(err, inbound.ErrNotEmailIdentity):
		return out, fnhttp.WithCode(faults.Perm(err), contract.CodeBadIdentity)
	case errors.Is(err, inbound.ErrRejected):
		return out, fnhttp.WithCode(faults.Perm(err), contract.CodeMIMERejected)
	case errors.Is(err, store.ErrInvalid):
		err = faults.Perm(err)
	}
	return out, fmt.Errorf("process raw message %s: %w", o.MessageID, err)
}

// identityOf is the identity an order without one was received on (the
// original smtp-bridge's process_raw with "remote_id":""): the user's local
// e-mail identity the message is addressed to (Delivered-To, X-Original-To,
// To, Cc, in that order), else the user's first one.
func (f *function) identityOf(ctx context.Context, userID string, raw []byte) (string, error) {
	ids, err := f.deps.Store.ListIdentities(ctx, userID, store.IdentityFilter{Type: store.LocalIdentity, Protocol: store.ProtocolEmail})
	if err != nil {
		return "", fmt.Errorf("identities of user %s: %w", userID, err)
	}
	if len(ids) == 0 {
		return "", fnhttp.WithCode(faults.Perm(fmt.Errorf("user %s has no local e-mail identity to receive on: %w",
			userID, inbound.ErrUnknownIdentity)), contract.CodeUnknownIdentity)
	}
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		for _, h := range []string{"Delivered-To", "X-Original-To", "To", "Cc"} {
			for _, v := range m.Header[h] {
				addrs, _ := mail.ParseAddressList(v)
				for _, a := range addrs {
					for _, id := range ids {
						if strings.EqualFold(a.Address, id.Identifier) {
							return id.ID, nil
						}
					}
				}
			}
		}
	}
	return ids[0].ID, nil
}

// load reads the bytes of raw message id. A content-addressed id (the SMTP
// listener's and imap-fetch's) names its key: the bytes are read there
// without a store read, and derived is that key when they are found there
// (imap-fetch leaves the record to the message's write). Otherwise the
// raw message's record names the key.
func (f *function) load(ctx context.Context, id string) (raw []byte, derived string, err error) {
	if store.IsRawID(id) {
		key := store.RawKey(id)
		raw, err := f.read(ctx, id, key)
		if !errors.Is(err, blob.ErrNotFound) {
			return raw, key, err
		}
	}
	r, err := f.deps.Store.GetRaw(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s does not exist", id)), contract.CodeRawNotFound)
	}
	if err != nil {
		return nil, "", fmt.Errorf("raw message %s: %w", id, err)
	}
	raw, err = f.read(ctx, id, r.BlobKey) // read checks the size, as the blob store reports it
	if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
		return nil, "", fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s: bytes missing from the blob store: %w", id, err)),
			contract.CodeRawMissing)
	}
	return raw, "", err
}

// read reads the bytes of raw message id under key, up to the size limit.
// A missing object gives an error that matches blob.ErrNotFound.
func (f *function) read(ctx context.Context, id, key string) ([]byte, error) {
	rc, err := f.deps.Blobs.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open raw message %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if n := blob.SizeOf(rc); n > f.cfg.MaxRawBytes {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s is %d bytes, over the limit of %d",
			id, n, f.cfg.MaxRawBytes)), contract.CodeRawTooLarge)
	} else if m, ok := rc.(blob.InMemory); ok && n >= 0 {
		return m.Bytes(), nil // the local system's copy of what was just stored: read, never changed
	} else if n >= 0 {
		buf.Grow(int(n) + bytes.MinRead) // the read that finds the end needs room
	}
	if _, err := buf.ReadFrom(io.LimitReader(rc, f.cfg.MaxRawBytes+1)); err != nil {
		return nil, fmt.Errorf("read raw message %s: %w", id, err)
	}
	b := buf.Bytes()
	if int64(len(b)) > f.cfg.MaxRawBytes {
		return nil, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s is over the limit of %d bytes",
			id, f.cfg.MaxRawBytes)), contract.CodeRawTooLarge)
	}
	return b, nil
}

// keepRaw records raw message id, found under key but refused, so that its
// bytes stay known to the store.
func (f *function) keepRaw(ctx context.Context, id, key string, log *slog.Logger) {
	info, err := f.deps.Blobs.Stat(ctx, key)
	if err == nil {
		_, err = f.deps.Store.PutRaw(ctx, store.RawMessage{ID: id, BlobKey: key, Size: info.Size})
	}
	if err != nil {
		log.Warn("refused raw message not recorded", "raw_id", id, "err", err)
	}
}
