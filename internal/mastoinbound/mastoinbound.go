// Package mastoinbound stores one Mastodon direct status as a message: the
// core of the inbound-mastodon function (functions/inbound-mastodon, whose
// package comment states the order, the message and the replies), here so
// that mastodon-dm's tests run against the real thing.
package mastoinbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xinbound"
)

// NotificationEmitter signs the new_message notification, as the
// original's mastodon broker.
const NotificationEmitter = "mastodonBroker"

// ThreadPrefix begins the discussion key of a conversation.
const ThreadPrefix = "mastodon:"

// ThreadKey is the discussion key of the account's conversation id.
func ThreadKey(conversationID string) string { return ThreadPrefix + conversationID }

// DefaultMaxRawBytes bounds a raw status (500 characters by default on
// Mastodon, a few thousand on some instances, with accounts and media).
const DefaultMaxRawBytes int64 = 256 << 10

// MaxDepth bounds the JSON nesting of a raw status.
const MaxDepth = 16

// Config configures the core.
type Config struct {
	// MaxRawBytes bounds the raw status loaded; 0 means DefaultMaxRawBytes.
	MaxRawBytes int64
}

// Deps are the core's dependencies; Store and Blobs are required.
type Deps = xinbound.Deps

type function struct {
	cfg         Config
	deps        Deps
	discussions inbound.DiscussionCache
}

// New returns the function's core.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil || deps.Blobs == nil {
		return nil, errors.New("inbound-mastodon: a store and a blob store are required")
	}
	if cfg.MaxRawBytes < 0 {
		return nil, fmt.Errorf("inbound-mastodon: max raw bytes %d is negative", cfg.MaxRawBytes)
	}
	if cfg.MaxRawBytes == 0 {
		cfg.MaxRawBytes = DefaultMaxRawBytes
	}
	f := &function{cfg: cfg, deps: deps}
	return f.serve, nil
}

func (f *function) serve(ctx context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
	o, ok := call.Request.Payload.(*contract.DeliverOrder)
	if !ok {
		return fnhttp.Result{}, faults.Perm(fmt.Errorf("payload %T is not a process_inbound order", call.Request.Payload))
	}
	raw, key, err := xinbound.Load(ctx, f.deps.Store, f.deps.Blobs, o.MessageID, f.cfg.MaxRawBytes)
	if err != nil {
		return fnhttp.Result{}, err
	}
	doc, err := Parse(raw)
	if err != nil {
		return fnhttp.Result{}, fnhttp.WithCode(faults.Perm(fmt.Errorf("raw message %s: %w", o.MessageID, err)), contract.CodeBadEvent)
	}
	stored, dup, err := f.deliver(ctx, o, key, raw, doc)
	if err != nil {
		return fnhttp.Result{}, err
	}
	msg := contract.InboundStored
	if dup {
		msg = contract.InboundDuplicate
	}
	call.Logger.Info("inbound direct status", "raw_id", o.MessageID, "message_id", stored.ID,
		"discussion_id", stored.DiscussionID, "dup", dup, "bytes", len(raw))
	return fnhttp.Result{Message: msg, Reply: contract.InboundReply{Message: msg, MessageID: stored.ID,
		DiscussionID: stored.DiscussionID}}, nil
}

// Parse checks the nesting depth of raw, then decodes it as one direct
// status of a conversation.
func Parse(raw []byte) (mastoapi.StatusDoc, error) {
	if err := xinbound.CheckDepth(raw, MaxDepth); err != nil {
		return mastoapi.StatusDoc{}, err
	}
	var doc mastoapi.StatusDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return mastoapi.StatusDoc{}, fmt.Errorf("not a status: %w", err)
	}
	s := doc.Status
	switch {
	case s.ID == "" || s.Account.ID == "" || doc.ConversationID == "" || doc.Me.ID == "":
		return doc, errors.New("the status lacks an id, an account, a conversation or the synced account")
	case s.Visibility != mastoapi.VisibilityDirect:
		return doc, fmt.Errorf("status %q is %q, not a direct message", s.ID, s.Visibility)
	}
	return doc, nil
}

// Message is the message of doc for raw message rawID of user userID,
// received by identity remoteID, before its contacts and discussion are
// resolved: participants (the author From, the conversation's other
// accounts and the mentioned ones To, the synced account among them), the
// text and the HTML, the attachments, the status id as external reference
// (the dedup key), the date.
func Message(doc mastoapi.StatusDoc, rawID, userID, remoteID string) store.Message {
	s := doc.Status
	m := store.Message{
		ID:          inbound.MessageID(rawID, userID),
		UserID:      userID,
		IdentityIDs: []string{remoteID},
		Protocol:    store.ProtocolMastodon,
		Subject:     s.SpoilerText,
		BodyPlain:   Text(s.Content),
		BodyHTML:    s.Content,
		IsUnread:    true,
		IsReceived:  true,
		External:    store.ExternalRefs{MessageID: s.ID},
		RawMsgID:    rawID,
		Attachments: attachments(s.Media),
	}
	if s.InReplyToID != nil {
		m.External.InReplyTo = *s.InReplyToID
	}
	if t, err := time.Parse(time.RFC3339, s.CreatedAt); err == nil {
		m.Date, m.DateSort = t, t
	}
	me := mastoapi.Address(doc.Me.Acct, doc.Me.URL)
	from := participant("From", s.Account.ID, s.Account.Acct, s.Account.URL, s.Account.DisplayName)
	m.Participants = []store.Participant{from}
	seen := map[string]bool{from.Address: true}
	add := func(p store.Participant) {
		if p.Address != "" && !seen[p.Address] {
			seen[p.Address] = true
			m.Participants = append(m.Participants, p)
		}
	}
	for _, a := range doc.Accounts {
		add(participant("To", a.ID, a.Acct, a.URL, a.DisplayName))
	}
	for _, mn := range s.Mentions {
		add(participant("To", mn.ID, mn.Acct, mn.URL, ""))
	}
	add(participant("To", doc.Me.ID, doc.Me.Acct, doc.Me.URL, doc.Me.DisplayName))
	if from.Address == me {
		m.IsUnread, m.IsReceived = false, false // sent from another client
	}
	return m
}

func participant(typ, id, acct, profile, label string) store.Participant {
	return store.Participant{Type: typ, Address: mastoapi.Address(acct, profile), Label: label, Protocol: store.ProtocolMastodon, ID: id}
}

// deliver stores the status for the order's user in one transaction.
func (f *function) deliver(ctx context.Context, o *contract.DeliverOrder, key string, raw []byte, doc mastoapi.StatusDoc) (store.Message, bool, error) {
	base := Message(doc, o.MessageID, o.UserID, o.RemoteID)
	var (
		stored store.Message
		dup    bool
		disc   string
	)
	conv := doc.ConversationID
	err := f.deps.Store.Deliver(ctx, func(d store.Delivery) error {
		id, own, err := d.Target(ctx, o.UserID, o.RemoteID)
		if errors.Is(err, store.ErrNotFound) {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)),
				contract.CodeUnknownIdentity)
		}
		if err != nil {
			return err
		}
		if id.Type != store.RemoteIdentity || id.Protocol != store.ProtocolMastodon || id.Status != store.Active {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is not an active mastodon account of user %s",
				o.RemoteID, o.UserID)), contract.CodeBadIdentity)
		}
		if key != "" {
			if err := d.RecordRaw(ctx, store.RawMessage{ID: o.MessageID, BlobKey: key, Size: int64(len(raw))}); err != nil {
				return err
			}
		}
		m := base
		m.Participants = slices.Clone(base.Participants)
		me := mastoapi.Address(doc.Me.Acct, doc.Me.URL)
		for i := range m.Participants {
			p := &m.Participants[i]
			if p.Address == me || p.Address == id.Identifier {
				if own != "" {
					p.ContactIDs = []string{own}
				}
				continue
			}
			cs, err := d.FindContacts(ctx, m.UserID, store.ProtocolMastodon, p.Address)
			if err != nil {
				return fmt.Errorf("find contacts of user %s: %w", m.UserID, err)
			}
			for _, c := range cs {
				p.ContactIDs = append(p.ContactIDs, c.ID)
			}
		}
		if m.DiscussionID, _ = f.discussions.Get(o.UserID, conv); m.DiscussionID == "" {
			if m.DiscussionID, err = d.DiscussionID(ctx, o.UserID, ThreadKey(conv), m.Subject); err != nil {
				return fmt.Errorf("ensure discussion for user %s: %w", o.UserID, err)
			}
		}
		disc = m.DiscussionID
		stored, dup, err = d.PutInbound(ctx, m, notification)
		if err != nil {
			return fmt.Errorf("store direct status for user %s: %w", o.UserID, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			err = faults.Perm(err)
		}
		return store.Message{}, false, fmt.Errorf("process raw message %s: %w", o.MessageID, err)
	}
	f.discussions.Put(o.UserID, conv, disc)
	return stored, dup, nil
}

// attachments describes the status's media (the bytes stay on the
// instance).
func attachments(media []mastoapi.Attachment) []store.Attachment {
	var out []store.Attachment
	for _, a := range media {
		url := a.URL
		if url == "" {
			url = a.RemoteURL
		}
		out = append(out, store.Attachment{ContentType: mediaType(a.Type), FileName: a.ID, URL: url})
	}
	return out
}

// mediaType is the content type of a Mastodon attachment type.
func mediaType(t string) string {
	switch t {
	case "image":
		return "image/*"
	case "gifv", "video":
		return "video/*"
	case "audio":
		return "audio/*"
	}
	return "application/octet-stream"
}

func notification(m store.Message) store.Notification {
	return inbound.Notification(m, NotificationEmitter)
}
