// Package xinbound stores one X direct message event as a message: the core
// of the inbound-twitter function (functions/inbound-twitter, whose package
// comment states the order, the message and the replies), here so that the
// functions that send it process_inbound test against the real thing.
package xinbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/xapi"
)

// NotificationEmitter signs the new_message notification, as the
// original's twitter broker.
const NotificationEmitter = "twitter_worker"

// ThreadPrefix begins the discussion key of a conversation.
const ThreadPrefix = "twitter:"

// ThreadKey is the discussion key of X conversation id.
func ThreadKey(conversationID string) string { return ThreadPrefix + conversationID }

// DefaultMaxRawBytes bounds a raw event: a direct message is at most
// 10,000 characters, with its users and media far below this.
const DefaultMaxRawBytes int64 = 256 << 10

// MaxDepth bounds the JSON nesting of a raw event (the API's is 4).
const MaxDepth = 16

// Config configures the core.
type Config struct {
	// MaxRawBytes bounds the raw event loaded; 0 means DefaultMaxRawBytes.
	MaxRawBytes int64
}

// Deps are the core's dependencies; Store and Blobs are required.
type Deps struct {
	Store Store
	Blobs blob.Store
}

// Store is what the function needs of the record store (*store.SQL).
type Store interface {
	Deliver(ctx context.Context, fn func(d store.Delivery) error) error
	GetRaw(ctx context.Context, id string) (store.RawMessage, error)
}

type function struct {
	cfg  Config
	deps Deps

	// discussions remembers the discussion of each conversation already
	// ensured: a busy conversation costs no upsert a message.
	discussions inbound.DiscussionCache
}

// New returns the function's core.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil || deps.Blobs == nil {
		return nil, errors.New("inbound-twitter: a store and a blob store are required")
	}
	if cfg.MaxRawBytes < 0 {
		return nil, fmt.Errorf("inbound-twitter: max raw bytes %d is negative", cfg.MaxRawBytes)
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
	raw, key, err := f.load(ctx, o.MessageID)
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
	call.Logger.Info("inbound direct message", "raw_id", o.MessageID, "message_id", stored.ID,
		"discussion_id", stored.DiscussionID, "dup", dup, "bytes", len(raw))
	return fnhttp.Result{Message: msg, Reply: contract.InboundReply{Message: msg, MessageID: stored.ID,
		DiscussionID: stored.DiscussionID}}, nil
}

// load reads raw message id (Load).
func (f *function) load(ctx context.Context, id string) (raw []byte, key string, err error) {
	return Load(ctx, f.deps.Store, f.deps.Blobs, id, f.cfg.MaxRawBytes)
}

// Load reads raw message id: under the key a content-addressed id names
// (key is returned: the record is written with the message), else under
// its record's key. The size limit is checked before the bytes are read
// when the blob store says the size. Its failures are classified with the
// inbound codes (raw_not_found, raw_missing, raw_too_large); inbound-mastodon
// loads its raw statuses with it too.
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

// Parse checks the nesting depth of raw, then decodes it as one direct
// message event (a MessageCreate with an id, a conversation and a sender).
func Parse(raw []byte) (xapi.EventDoc, error) {
	if err := CheckDepth(raw, MaxDepth); err != nil {
		return xapi.EventDoc{}, err
	}
	var doc xapi.EventDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return xapi.EventDoc{}, fmt.Errorf("not a direct message event: %w", err)
	}
	ev := doc.Data
	switch {
	case ev.EventType != xapi.MessageCreate:
		return doc, fmt.Errorf("event %q is a %q event, not %s", ev.ID, ev.EventType, xapi.MessageCreate)
	case !xapi.IsID(ev.ID) || !xapi.IsID(ev.SenderID) || !xapi.IsConversationID(ev.DMConversationID):
		return doc, errors.New("the event lacks a numeric id, sender_id or a dm_conversation_id")
	}
	return doc, nil
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

// deliver stores the event for the order's user in one transaction.
func (f *function) deliver(ctx context.Context, o *contract.DeliverOrder, key string, raw []byte, doc xapi.EventDoc) (store.Message, bool, error) {
	ev := doc.Data
	users := map[string]xapi.User{}
	for _, u := range doc.Includes.Users {
		users[u.ID] = u
	}
	base := store.Message{
		ID:          inbound.MessageID(o.MessageID, o.UserID),
		UserID:      o.UserID,
		IdentityIDs: []string{o.RemoteID},
		Protocol:    store.ProtocolTwitter,
		BodyPlain:   ev.Text,
		IsUnread:    true,
		IsReceived:  true,
		External:    store.ExternalRefs{MessageID: ev.ID},
		RawMsgID:    o.MessageID,
		Attachments: attachments(ev, doc.Includes.Media),
	}
	if t, err := time.Parse(time.RFC3339, ev.CreatedAt); err == nil {
		// A conversation reads in the order its messages were written,
		// whatever the order (pages, concurrent requests) they arrive in.
		base.Date, base.DateSort = t, t
	}
	var (
		stored store.Message
		dup    bool
		disc   string
	)
	// The closure may run more than once (store.Delivery); the cache
	// learns the discussion once committed.
	err := f.deps.Store.Deliver(ctx, func(d store.Delivery) error {
		id, own, err := d.Target(ctx, o.UserID, o.RemoteID)
		if errors.Is(err, store.ErrNotFound) {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s of user %s: %w", o.RemoteID, o.UserID, err)),
				contract.CodeUnknownIdentity)
		}
		if err != nil {
			return err
		}
		if id.Type != store.RemoteIdentity || id.Protocol != store.ProtocolTwitter || id.Status != store.Active {
			return fnhttp.WithCode(faults.Perm(fmt.Errorf("identity %s is not an active twitter account of user %s",
				o.RemoteID, o.UserID)), contract.CodeBadIdentity)
		}
		if key != "" {
			if err := d.RecordRaw(ctx, store.RawMessage{ID: o.MessageID, BlobKey: key, Size: int64(len(raw))}); err != nil {
				return err
			}
		}
		m := base
		m.Participants = participants(ev, users, id.Identifier)
		if m.Participants[0].Address == id.Identifier {
			m.IsUnread, m.IsReceived = false, false // sent from another client
		}
		if err := resolve(ctx, d, &m, id.Identifier, own); err != nil {
			return err
		}
		if m.DiscussionID, _ = f.discussions.Get(o.UserID, ev.DMConversationID); m.DiscussionID == "" {
			if m.DiscussionID, err = d.DiscussionID(ctx, o.UserID, ThreadKey(ev.DMConversationID), ""); err != nil {
				return fmt.Errorf("ensure discussion for user %s: %w", o.UserID, err)
			}
		}
		disc = m.DiscussionID
		stored, dup, err = d.PutInbound(ctx, m, notification)
		if err != nil {
			return fmt.Errorf("store direct message for user %s: %w", o.UserID, err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			err = faults.Perm(err)
		}
		return store.Message{}, false, fmt.Errorf("process raw message %s: %w", o.MessageID, err)
	}
	f.discussions.Put(o.UserID, ev.DMConversationID, disc)
	return stored, dup, nil
}

// participant is the twitter address of user id: its username when known,
// else its id.
func participant(typ, id string, users map[string]xapi.User) store.Participant {
	p := store.Participant{Type: typ, Address: id, Protocol: store.ProtocolTwitter, ID: id}
	if u, ok := users[id]; ok && u.Username != "" {
		p.Address, p.Label = strings.ToLower(u.Username), u.Name
	}
	return p
}

// participants lists the sender (From) and the other members the event
// names (To): the other side of a one-to-one conversation, the included
// users of a group's, and the receiving account when it is not the sender.
func participants(ev xapi.Event, users map[string]xapi.User, account string) []store.Participant {
	ps := []store.Participant{participant("From", ev.SenderID, users)}
	seen := map[string]bool{ev.SenderID: true}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ps = append(ps, participant("To", id, users))
		}
	}
	if a, b, ok := strings.Cut(ev.DMConversationID, "-"); ok {
		add(a)
		add(b)
	}
	ids := make([]string, 0, len(users))
	for id := range users {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		add(id)
	}
	if !slices.ContainsFunc(ps, func(p store.Participant) bool { return p.Address == account }) {
		ps = append(ps, store.Participant{Type: "To", Address: account, Protocol: store.ProtocolTwitter})
	}
	return ps
}

// attachments describes the event's media (the bytes stay at X).
func attachments(ev xapi.Event, media []xapi.Media) []store.Attachment {
	if ev.Attachments == nil {
		return nil
	}
	var out []store.Attachment
	for _, k := range ev.Attachments.MediaKeys {
		a := store.Attachment{ContentType: "application/octet-stream", FileName: k}
		for _, m := range media {
			if m.MediaKey == k {
				a.ContentType, a.URL = mediaType(m.Type), m.URL
				if a.URL == "" {
					a.URL = m.PreviewImageURL
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// mediaType is the content type of an X media type.
func mediaType(t string) string {
	switch t {
	case "photo":
		return "image/jpeg"
	case "animated_gif":
		return "image/gif"
	case "video":
		return "video/mp4"
	}
	return "application/octet-stream"
}

// resolve attaches contact ids: the user's own contact to the receiving
// account, the contacts with a twitter social identity of that username
// to the others.
func resolve(ctx context.Context, d store.Delivery, m *store.Message, account, own string) error {
	for i := range m.Participants {
		p := &m.Participants[i]
		if p.Address == account {
			if own != "" {
				p.ContactIDs = []string{own}
			}
			continue
		}
		cs, err := d.FindContacts(ctx, m.UserID, store.ProtocolTwitter, p.Address)
		if err != nil {
			return fmt.Errorf("find contacts of user %s: %w", m.UserID, err)
		}
		for _, c := range cs {
			p.ContactIDs = append(p.ContactIDs, c.ID)
		}
	}
	return nil
}

// notification is the new-message notification of m.
func notification(m store.Message) store.Notification {
	return inbound.Notification(m, NotificationEmitter)
}
