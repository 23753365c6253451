// Package xinbound stores one X direct message event as a message: the core
// of the inbound-twitter function (functions/inbound-twitter, whose package
// comment states the order, the message and the replies), here so that the
// functions that send it process_inbound test against the real thing.
package xinbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/dminbound"
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

// Config configures the core: MaxRawBytes bounds the raw event loaded (0
// means DefaultMaxRawBytes).
type Config = dminbound.Config

// Deps are the core's dependencies; Store and Blobs are required.
type Deps = dminbound.Deps

// Store is what the function needs of the record store (*store.SQL).
type Store = dminbound.Store

// service is what inbound-twitter adds to the shared core: an X event and
// its message.
var service = dminbound.Service[xapi.EventDoc]{
	Name: "inbound-twitter", Protocol: store.ProtocolTwitter, Account: "twitter", What: "direct message",
	DefaultMaxRawBytes: DefaultMaxRawBytes, NotificationEmitter: NotificationEmitter, ThreadPrefix: ThreadPrefix,
	Parse:        Parse,
	Conversation: func(doc xapi.EventDoc) string { return doc.Data.DMConversationID },
	Message:      message,
	Participants: complete,
}

// New returns the function's core.
func New(cfg Config, deps Deps) (fnhttp.Core, error) { return dminbound.New(service, cfg, deps) }

// Parse checks the nesting depth of raw, then decodes it as one direct
// message event (a MessageCreate with an id, a conversation and a sender).
func Parse(raw []byte) (xapi.EventDoc, error) {
	if err := dminbound.CheckDepth(raw, MaxDepth); err != nil {
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

// message is the message of doc for raw message rawID of user userID,
// received by identity remoteID, before its participants are known.
func message(doc xapi.EventDoc, rawID, userID, remoteID string) store.Message {
	ev := doc.Data
	m := store.Message{
		ID:          inbound.MessageID(rawID, userID),
		UserID:      userID,
		IdentityIDs: []string{remoteID},
		Protocol:    store.ProtocolTwitter,
		BodyPlain:   ev.Text,
		IsUnread:    true,
		IsReceived:  true,
		External:    store.ExternalRefs{MessageID: ev.ID},
		RawMsgID:    rawID,
		Attachments: attachments(ev, doc.Includes.Media),
	}
	if t, err := time.Parse(time.RFC3339, ev.CreatedAt); err == nil {
		// A conversation reads in the order its messages were written,
		// whatever the order (pages, concurrent requests) they arrive in.
		m.Date, m.DateSort = t, t
	}
	return m
}

// complete sets m's participants for the receiving account (a message it
// sent from another client is neither unread nor received); only the
// account's address is its own.
func complete(doc xapi.EventDoc, m *store.Message, account string) func(string) bool {
	users := map[string]xapi.User{}
	for _, u := range doc.Includes.Users {
		users[u.ID] = u
	}
	m.Participants = participants(doc.Data, users, account)
	if m.Participants[0].Address == account {
		m.IsUnread, m.IsReceived = false, false // sent from another client
	}
	return func(address string) bool { return address == account }
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
