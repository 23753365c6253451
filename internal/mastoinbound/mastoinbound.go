// Package mastoinbound stores one Mastodon direct status as a message: the
// core of the inbound-mastodon function (functions/inbound-mastodon, whose
// package comment states the order, the message and the replies), here so
// that mastodon-dm's tests run against the real thing.
package mastoinbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caliopen/functions/internal/dminbound"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/inbound"
	"github.com/caliopen/functions/internal/mastoapi"
	"github.com/caliopen/functions/internal/store"
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

// Config configures the core: MaxRawBytes bounds the raw status loaded
// (0 means DefaultMaxRawBytes).
type Config = dminbound.Config

// Deps are the core's dependencies; Store and Blobs are required.
type Deps = dminbound.Deps

// service is what inbound-mastodon adds to the shared core: a direct
// status and its message.
var service = dminbound.Service[mastoapi.StatusDoc]{
	Name: "inbound-mastodon", Protocol: store.ProtocolMastodon, Account: "mastodon", What: "direct status",
	DefaultMaxRawBytes: DefaultMaxRawBytes, NotificationEmitter: NotificationEmitter, ThreadPrefix: ThreadPrefix,
	Parse:        Parse,
	Conversation: func(doc mastoapi.StatusDoc) string { return doc.ConversationID },
	Message:      Message,
	Participants: own,
}

// New returns the function's core.
func New(cfg Config, deps Deps) (fnhttp.Core, error) { return dminbound.New(service, cfg, deps) }

// Parse checks the nesting depth of raw, then decodes it as one direct
// status of a conversation.
func Parse(raw []byte) (mastoapi.StatusDoc, error) {
	if err := dminbound.CheckDepth(raw, MaxDepth); err != nil {
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

// own gives m its own participants (Message's are shared by the
// transaction's attempts): the synced account's address and the
// identity's are the account's own.
func own(doc mastoapi.StatusDoc, m *store.Message, account string) func(string) bool {
	m.Participants = slices.Clone(m.Participants)
	me := mastoapi.Address(doc.Me.Acct, doc.Me.URL)
	return func(address string) bool { return address == me || address == account }
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
