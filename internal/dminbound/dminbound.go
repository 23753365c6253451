// Package dminbound is what the inbound functions of the direct message
// bridges (inbound-twitter, inbound-mastodon) share: the raw message
// loaded within its limit, its JSON nesting bounded, and one message
// stored for the order's user in one transaction (the identity checked,
// the raw message recorded, the participants' contacts resolved, the
// discussion of its conversation, a new_message notification). A service
// (xinbound, mastoinbound) adds its document's shape: how it parses and
// what message it makes.
package dminbound

import (
	"context"
	"errors"
	"fmt"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/store"
)

// Config configures a core.
type Config struct {
	// MaxRawBytes bounds the raw message loaded; 0 means the service's
	// default (Service.DefaultMaxRawBytes).
	MaxRawBytes int64
}

// Deps are a core's dependencies; Store and Blobs are required.
type Deps struct {
	Store Store
	Blobs blob.Store
}

// Store is what a core needs of the record store (*store.SQL).
type Store interface {
	Deliver(ctx context.Context, fn func(d store.Delivery) error) error
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
}

// Service is what differs between the bridges' inbound functions: the
// service's document D and the message made of it.
type Service[D any] struct {
	// Name is the function's name ("inbound-twitter"), Protocol the
	// identities' and messages' protocol (store.ProtocolTwitter), Account
	// the service's name in messages ("twitter"), What a message's name in
	// logs and errors ("direct message").
	Name, Protocol, Account, What string
	// DefaultMaxRawBytes bounds a raw message when Config does not.
	DefaultMaxRawBytes int64
	// NotificationEmitter signs the new_message notification.
	NotificationEmitter string
	// ThreadPrefix begins the discussion key of a conversation.
	ThreadPrefix string
	// Parse decodes a raw message (its nesting already bounded).
	Parse func(raw []byte) (D, error)
	// Conversation is the id of doc's conversation.
	Conversation func(doc D) string
	// Message is the message of doc for raw message rawID of user userID,
	// received by identity remoteID, before its contacts and discussion
	// are resolved.
	Message func(doc D, rawID, userID, remoteID string) store.Message
	// Participants completes m (a copy of Message's, which it must not
	// share) for the receiving account (the identity's identifier) within
	// the transaction; own says which addresses are the account's own,
	// given the user's own contact rather than those found by address.
	Participants func(doc D, m *store.Message, account string) (own func(address string) bool)
}

type core[D any] struct {
	svc         Service[D]
	cfg         Config
	deps        Deps
	discussions inbound.DiscussionCache
}

// New returns the core of svc's inbound function.
func New[D any](svc Service[D], cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil || deps.Blobs == nil {
		return nil, errors.New(svc.Name + ": a store and a blob store are required")
	}
	if cfg.MaxRawBytes < 0 {
		return nil, fmt.Errorf("%s: max raw bytes %d is negative", svc.Name, cfg.MaxRawBytes)
	}
	if cfg.MaxRawBytes == 0 {
		cfg.MaxRawBytes = svc.DefaultMaxRawBytes
	}
	c := &core[D]{svc: svc, cfg: cfg, deps: deps}
	return c.serve, nil
}

func (c *core[D]) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("payload %T is not a process_inbound order", call.Request.Payload))
	}
	raw, key, err := Load(ctx, c.deps.Store, c.deps.Blobs, o.MessageID, c.cfg.MaxRawBytes)
	if err != nil {
		return fnhttp.Result{}, err
	}
	doc, err := c.svc.Parse(raw)
	if err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s: %w", o.MessageID, err)), contract.CodeBadEvent)
	}
	stored, dup, err := c.deliver(ctx, o, key, raw, doc)
	if err != nil {
		return fnhttp.Result{}, err
	}
	msg := contract.InboundStored
	if dup {
		msg = contract.InboundDuplicate
	}
	call.Logger.Info("inbound "+c.svc.What, "raw_id", o.MessageID, "message_id", stored.ID,
		"discussion_id", stored.DiscussionID, "dup", dup, "bytes", len(raw))
	return fnhttp.Result{Message: msg, Reply: contract.InboundReply{Message: msg, MessageID: stored.ID,
		DiscussionID: stored.DiscussionID}}, nil
}

// deliver stores doc for the order's user in one transaction.
func (c *core[D]) deliver(ctx context.Context, o *contract.DeliverOrder, key string, raw []byte, doc D) (store.Message, bool, error) {
	base := c.svc.Message(doc, o.MessageID, o.UserID, o.RemoteID)
	conv := c.svc.Conversation(doc)
	var (
		stored store.Message
		dup    bool
		disc   string
	)
	// The closure may run more than once (store.Delivery); the cache
	// learns the discussion once committed.
	err := c.deps.Store.Deliver(ctx, func(d store.Delivery) error {
		id, own, err := d.Target(ctx, o.UserID, o.RemoteID)
		if errors.Is(err, store.ErrNotFound) {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)),
				contract.CodeUnknownIdentity)
		}
		if err != nil {
			return err
		}
		if id.Type != store.RemoteIdentity || id.Protocol != c.svc.Protocol || id.Status != store.Active {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is not an active %s account of user %s",
				o.RemoteID, c.svc.Account, o.UserID)), contract.CodeBadIdentity)
		}
		if key != "" {
			if err := d.RecordRaw(ctx, store.RawMessage{ID: o.MessageID, BlobKey: key, Size: int64(len(raw))}); err != nil {
				return err
			}
		}
		m := base
		isOwn := c.svc.Participants(doc, &m, id.Identifier)
		if err := c.resolve(ctx, d, &m, isOwn, own); err != nil {
			return err
		}
		if m.DiscussionID, _ = c.discussions.Get(o.UserID, conv); m.DiscussionID == "" {
			if m.DiscussionID, err = d.DiscussionID(ctx, o.UserID, c.svc.ThreadPrefix+conv, m.Subject); err != nil {
				return fmt.Errorf("ensure discussion for user %s: %w", o.UserID, err)
			}
		}
		disc = m.DiscussionID
		stored, dup, err = d.PutInbound(ctx, m, c.notification)
		if err != nil {
			return fmt.Errorf("store %s for user %s: %w", c.svc.What, o.UserID, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			err = faults.Perm(err)
		}
		return store.Message{}, false, fmt.Errorf("process raw message %s: %w", o.MessageID, err)
	}
	c.discussions.Put(o.UserID, conv, disc)
	return stored, dup, nil
}

// resolve attaches contact ids: the user's own contact to the receiving
// account's addresses, the contacts with a social identity of the
// protocol and that address to the others.
func (c *core[D]) resolve(ctx context.Context, d store.Delivery, m *store.Message, isOwn func(string) bool, own string) error {
	for i := range m.Participants {
		p := &m.Participants[i]
		if isOwn(p.Address) {
			if own != "" {
				p.ContactIDs = []string{own}
			}
			continue
		}
		cs, err := d.FindContacts(ctx, m.UserID, c.svc.Protocol, p.Address)
		if err != nil {
			return fmt.Errorf("find contacts of user %s: %w", m.UserID, err)
		}
		for _, ct := range cs {
			p.ContactIDs = append(p.ContactIDs, ct.ID)
		}
	}
	return nil
}

// notification is the new-message notification of m.
func (c *core[D]) notification(m store.Message) store.Notification {
	return inbound.Notification(m, c.svc.NotificationEmitter)
}

// Load reads raw message id: under the key a content-addressed id names
// (key is returned: the record is written with the message), else under
// its record's key. The size limit is checked before the bytes are read
// when the blob store says the size. Its failures are classified with the
// inbound codes (raw_not_found, raw_missing, raw_too_large).
func Load(ctx context.Context, st Store, blobs blob.Store, id string, maxBytes int64) (raw []byte, key string, err error) {
	key = store.RawKey(id)
	if store.IsRawID(id) {
		raw, err = blob.ReadLimited(ctx, blobs, key, maxBytes)
	}
	if !store.IsRawID(id) || errors.Is(err, blob.ErrNotFound) {
		var r store.RawMessage
		r, err = st.GetRaw(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s does not exist", id)), contract.CodeRawNotFound)
		}
		if err != nil {
			return nil, "", fmt.Errorf("raw message %s: %w", id, err)
		}
		key = ""
		raw, err = blob.ReadLimited(ctx, blobs, r.BlobKey, maxBytes)
		if errors.Is(err, blob.ErrNotFound) || errors.Is(err, blob.ErrInvalidKey) {
			return nil, "", fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s: bytes missing from the blob store: %w",
				id, err)), contract.CodeRawMissing)
		}
	}
	if errors.Is(err, blob.ErrTooLarge) {
		return nil, "", fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s is over the limit of %d bytes: %w",
			id, maxBytes, err)), contract.CodeRawTooLarge)
	}
	if err != nil {
		return nil, "", fmt.Errorf("read raw message %s: %w", id, err)
	}
	return raw, key, nil
}

// CheckDepth refuses JSON nested deeper than max. It scans the bytes once,
// counting brackets outside strings, without building anything: the
// decoder then meets no deeper document.
func CheckDepth(raw []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return fmt.Errorf("nested deeper than %d", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// LoadConfig reads Config from the environment: MaxRawBytes from the
// variable maxRawBytes names, a positive number when set.
func LoadConfig(getenv func(string) string, maxRawBytes string) (Config, error) {
	var cfg Config
	err := envconf.PositiveInt64(getenv, maxRawBytes, &cfg.MaxRawBytes)
	return cfg, err
}
