package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/store"
)

// Store is what the qualifier needs from the record store (*store.SQL has
// it all).
type Store interface {
	FindContacts(ctx context.Context, userID, kind, value string) ([]store.Contact, error)
	MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]store.Message, error)
	EnsureDiscussion(ctx context.Context, userID, key, subject string) (store.Discussion, error)
	PutInboundNotify(ctx context.Context, m store.Message, notify func(store.Message) store.Notification) (store.Message, bool, error)
	ListTags(ctx context.Context, userID string) ([]store.Tag, error)
	UpsertTag(ctx context.Context, t store.Tag) (store.Tag, error)
}

// Input is one raw message to deliver to one user.
type Input struct {
	UserID     string
	IdentityID string // the local identity that received it
	Identifier string // that identity's address, lowercased
	ContactID  string // the user's own contact; "" when the user has none
	RawID      string
	Raw        []byte
	Received   time.Time // arrival time; zero means now
	// Batched: the caller notifies the user once for a batch of messages
	// (imap-fetch for a sync, as the original's imap_worker), so no
	// notification is stored with this one.
	Batched bool
}

// Outcome is the stored message and whether it was there already.
type Outcome struct {
	Message store.Message
	Dup     bool
}

// NotificationType and NotificationEmitter label the notification of a
// new message (the original's smtp "new_message", long-lived).
const (
	NotificationType    = store.NewMessageNotification
	NotificationEmitter = "smtp"
	NotificationTTL     = store.LongLivedNotification
)

// idSpace namespaces the derived ids (message and notification).
var idSpace = uuid.MustParse("5b0e6bd1-3c0f-4d71-9c7e-6a4f1f0c2d10")

// Qualifier qualifies and stores inbound mail.
type Qualifier struct {
	Store Store
	// Now gives the arrival time when Input.Received is zero.
	Now func() time.Time

	discussions discussionCache
}

// MessageID is the id of the message that raw message rawID gives user
// userID: the same order always yields the same id.
func MessageID(rawID, userID string) string {
	return uuid.NewSHA1(idSpace, []byte("message\x00"+rawID+"\x00"+userID)).String()
}

// Deliver parses in.Raw and stores it for in.UserID (see the package doc for
// its failure semantics).
func (q *Qualifier) Deliver(ctx context.Context, in Input) (Outcome, error) {
	p := Parse(in.Raw)
	m := store.Message{
		ID:           MessageID(in.RawID, in.UserID),
		UserID:       in.UserID,
		IdentityIDs:  []string{in.IdentityID},
		Protocol:     store.ProtocolEmail,
		Participants: p.Participants,
		Subject:      p.Subject,
		BodyPlain:    p.BodyPlain,
		BodyHTML:     p.BodyHTML,
		Date:         p.Date,
		DateSort:     in.Received,
		IsUnread:     true,
		IsReceived:   true,
		External:     p.External,
		Attachments:  p.Attachments,
		RawMsgID:     in.RawID,
		PI:           p.PI,
		Features:     p.Features,
	}
	if m.DateSort.IsZero() && q.Now != nil {
		m.DateSort = q.Now()
	}
	if len(m.Participants) == 0 && in.Identifier != "" {
		m.Participants = []store.Participant{{Type: "To", Address: in.Identifier, Protocol: store.ProtocolEmail}}
	}
	if m.External.InReplyTo != "" || len(m.External.References) > 0 {
		m.Importance = 2
	}
	if err := q.resolve(ctx, &m, in.Identifier, in.ContactID); err != nil {
		return Outcome{}, err
	}
	tags, err := q.tags(ctx, in.UserID, p.Flags)
	if err != nil {
		return Outcome{}, err
	}
	m.Tags = tags
	if m.DiscussionID, err = q.discussion(ctx, &m, p.ListIDs); err != nil {
		return Outcome{}, err
	}
	// The notification is stored with the message (a redelivered order
	// finishes what an interrupted one began; a second copy of a mail
	// creates nothing), unless the caller notifies for a batch.
	notify := notification
	if in.Batched {
		notify = nil
	}
	stored, dup, err := q.Store.PutInboundNotify(ctx, m, notify)
	if err != nil {
		return Outcome{}, fmt.Errorf("store message for user %s: %w", in.UserID, err)
	}
	return Outcome{Message: stored, Dup: dup}, nil
}

// resolve attaches contact ids to participants: own, the user's own
// contact, for the receiving identity, the user's contacts found by address
// otherwise. Comportment +10 when every other participant is a known
// contact.
func (q *Qualifier) resolve(ctx context.Context, m *store.Message, identifier, own string) error {
	known, others := 0, 0
	cache := map[string][]string{}
	for i := range m.Participants {
		pa := &m.Participants[i]
		if pa.Address == identifier {
			if own != "" {
				pa.ContactIDs = []string{own}
			}
			continue
		}
		others++
		ids, ok := cache[pa.Address]
		if !ok {
			cs, err := q.Store.FindContacts(ctx, m.UserID, store.LookupEmail, pa.Address)
			if err != nil {
				return fmt.Errorf("find contacts of user %s: %w", m.UserID, err)
			}
			for _, c := range cs {
				ids = append(ids, c.ID)
			}
			cache[pa.Address] = ids
		}
		if len(ids) > 0 {
			pa.ContactIDs = ids
			known++
		}
	}
	if others > 0 && known == others {
		m.PI.Comportment += 10
	}
	return nil
}

// tags creates the imported tags the user lacks and returns their names.
func (q *Qualifier) tags(ctx context.Context, userID string, flags []string) ([]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	have, err := q.Store.ListTags(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list tags of user %s: %w", userID, err)
	}
	for _, f := range flags {
		if slices.ContainsFunc(have, func(t store.Tag) bool { return t.Name == f }) {
			continue
		}
		if _, err := q.Store.UpsertTag(ctx, store.Tag{UserID: userID, Name: f, Label: f, Type: "imported"}); err != nil {
			return nil, fmt.Errorf("create imported tag for user %s: %w", userID, err)
		}
	}
	return flags, nil
}

// discussion threads m: into the discussion of the newest message of the
// same user that m references (In-Reply-To, then References), else into the
// discussion keyed by the mailing list or by the participants hash.
func (q *Qualifier) discussion(ctx context.Context, m *store.Message, listIDs []string) (string, error) {
	refs := slices.Clone(m.External.References)
	if m.External.InReplyTo != "" {
		refs = append(refs, m.External.InReplyTo)
	}
	if len(refs) > 0 {
		found, err := q.Store.MessagesByExternalID(ctx, m.UserID, refs)
		if err != nil {
			return "", fmt.Errorf("find referenced messages of user %s: %w", m.UserID, err)
		}
		for i := len(found) - 1; i >= 0; i-- {
			if found[i].DiscussionID != "" {
				return found[i].DiscussionID, nil
			}
		}
	}
	key := ThreadKey(m.Participants, listIDs)
	if id, ok := q.discussions.get(m.UserID, key); ok {
		return id, nil
	}
	d, err := q.Store.EnsureDiscussion(ctx, m.UserID, key, m.Subject)
	if err != nil {
		return "", fmt.Errorf("ensure discussion for user %s: %w", m.UserID, err)
	}
	q.discussions.put(m.UserID, key, d.ID)
	return d.ID, nil
}

// ThreadKey is the natural key of a discussion without references: the
// sha256 of the sorted list ids ("list:" prefix) when the mail comes from a
// mailing list, else of the sorted set of "email:<address>" of its
// participants ("participants:" prefix), as the original computed it.
func ThreadKey(ps []store.Participant, listIDs []string) string {
	var uris []string
	prefix := "participants:"
	if len(listIDs) > 0 {
		prefix = "list:"
		for _, l := range listIDs {
			uris = append(uris, "email:"+l)
		}
	} else {
		for _, p := range ps {
			uris = append(uris, "email:"+p.Address)
		}
	}
	sort.Strings(uris)
	uris = slices.Compact(uris)
	sum := sha256.Sum256([]byte(strings.Join(uris, "\n")))
	return prefix + hex.EncodeToString(sum[:])
}

// notification is the new-message notification of m; its id is derived
// from the message id, so it is created once.
func notification(m store.Message) store.Notification {
	body, _ := json.Marshal(map[string]string{"message_id": m.ID, "discussion_id": m.DiscussionID}) // cannot fail
	now := m.DateInsert
	if now.IsZero() {
		now = time.Now()
	}
	return store.Notification{
		ID:        uuid.NewSHA1(idSpace, []byte("notification\x00"+m.ID)).String(),
		UserID:    m.UserID,
		Type:      NotificationType,
		Emitter:   NotificationEmitter,
		Reference: m.ID,
		Body:      string(body),
		ExpiresAt: now.Add(NotificationTTL),
	}
}
