package inbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/store"
)

// Store is what the qualifier needs from the record store (*store.SQL):
// one write transaction a message, in which it reads and writes.
type Store interface {
	Deliver(ctx context.Context, fn func(d store.Delivery) error) error
}

// Input is one raw message to deliver to one user.
type Input struct {
	UserID string
	// IdentityID is the identity that received it: a local one (the SMTP
	// listener) or a remote one (imap-fetch, as the original's [user_id,
	// remote_identity_id] recipient). It must be an active e-mail identity
	// of the user.
	IdentityID string
	RawID      string
	// RawKey, when set, is the blob key of the raw message: its record
	// (RawID, RawKey, len(Raw)) is written with the message unless one
	// exists. imap-fetch leaves the record to this write.
	RawKey   string
	Raw      []byte
	Received time.Time // arrival time; zero means now
}

// Errors of the receiving identity; both are permanent.
var (
	ErrUnknownIdentity  = errors.New("the user has no such identity")
	ErrNotEmailIdentity = errors.New("not an active e-mail identity")
)

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
	// Limits bound the MIME structure of what Deliver parses (zero
	// fields: DefaultLimits).
	Limits Limits

	discussions DiscussionCache
}

// MessageID is the id of the message that raw message rawID gives user
// userID: the same order always yields the same id.
func MessageID(rawID, userID string) string {
	return uuid.NewSHA1(idSpace, []byte("message\x00"+rawID+"\x00"+userID)).String()
}

// Deliver parses in.Raw and stores it for in.UserID (see the package doc for
// its failure semantics). Mail a remote identity received is not notified
// here: its fetcher notifies the user once a batch, as the original's
// imap_worker did once a sync.
func (q *Qualifier) Deliver(ctx context.Context, in Input) (Outcome, error) {
	p, err := Parse(ctx, in.Raw, q.Limits)
	if err != nil {
		return Outcome{}, fmt.Errorf("parse raw message %s: %w", in.RawID, err)
	}
	base := store.Message{
		ID:          MessageID(in.RawID, in.UserID),
		UserID:      in.UserID,
		IdentityIDs: []string{in.IdentityID},
		Protocol:    store.ProtocolEmail,
		Subject:     p.Subject,
		BodyPlain:   p.BodyPlain,
		BodyHTML:    p.BodyHTML,
		Date:        p.Date,
		DateSort:    in.Received,
		IsUnread:    true,
		IsReceived:  true,
		External:    p.External,
		Attachments: p.Attachments,
		RawMsgID:    in.RawID,
		Features:    p.Features,
		ContentHash: ContentHash(p),
	}
	if base.DateSort.IsZero() && q.Now != nil {
		base.DateSort = q.Now()
	}
	if base.External.InReplyTo != "" || len(base.External.References) > 0 {
		base.Importance = 2
	}
	var (
		out          Outcome
		thread, disc string // the thread key the cache lacked, and its discussion
	)
	// The closure may run more than once (store.Delivery): it starts from
	// base each time, and the cache learns its discussion once committed.
	err = q.Store.Deliver(ctx, func(d store.Delivery) error {
		id, own, err := d.Target(ctx, in.UserID, in.IdentityID)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("identity %s of user %s: %w", in.IdentityID, in.UserID, ErrUnknownIdentity)
		}
		if err != nil {
			return err
		}
		if !acceptsMail(id) {
			return fmt.Errorf("identity %s of user %s: %w", in.IdentityID, in.UserID, ErrNotEmailIdentity)
		}
		if in.RawKey != "" {
			if err := d.RecordRaw(ctx, store.RawMessage{ID: in.RawID, BlobKey: in.RawKey, Size: int64(len(in.Raw))}); err != nil {
				return err
			}
		}
		m := base
		m.PI = p.PI
		m.Participants = slices.Clone(p.Participants)
		if len(m.Participants) == 0 && id.Identifier != "" {
			m.Participants = []store.Participant{{Type: "To", Address: id.Identifier, Protocol: store.ProtocolEmail}}
		}
		if err := resolve(ctx, d, &m, id.Identifier, own); err != nil {
			return err
		}
		if m.Tags, err = tags(ctx, d, in.UserID, p.Flags); err != nil {
			return err
		}
		if m.DiscussionID, thread, err = q.discussion(ctx, d, &m, p.ListIDs); err != nil {
			return err
		}
		disc = m.DiscussionID
		// The notification is stored with the message (a redelivered order
		// finishes what an interrupted one began; a second copy of a mail
		// creates nothing).
		notify := notification
		if id.Type == store.RemoteIdentity {
			notify = nil
		}
		stored, dup, err := d.PutInbound(ctx, m, notify)
		if err != nil {
			return fmt.Errorf("store message for user %s: %w", in.UserID, err)
		}
		out = Outcome{Message: stored, Dup: dup}
		return nil
	})
	if err != nil {
		return Outcome{}, err
	}
	if thread != "" {
		q.discussions.Put(in.UserID, thread, disc) // not the stored message's: a duplicate keeps its own
	}
	return out, nil
}

// ContentHash identifies what a parsed mail says, apart from how it
// travelled: the hex SHA-256 of its senders (From and Sender), Date,
// Subject, bodies and attachments (type, name, size). The same mail
// received twice (over SMTP and fetched over IMAP, with other trace
// headers) has one hash; another mail under the same Message-ID has
// another.
func ContentHash(p Parsed) string {
	h := sha256.New()
	field := func(s string) {
		fmt.Fprintf(h, "%d:%s\n", len(s), s)
	}
	for _, pa := range p.Participants {
		if pa.Type == "From" || pa.Type == "Sender" {
			field(pa.Type + " " + pa.Address)
		}
	}
	field(p.Date.UTC().Format(time.RFC3339))
	field(p.Subject)
	field(p.BodyPlain)
	field(p.BodyHTML)
	for _, a := range p.Attachments {
		field(fmt.Sprintf("%s %s %d", a.ContentType, a.FileName, a.Size))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// acceptsMail says whether identity id receives e-mail: an active local
// e-mail identity, or an active remote one (e-mail or IMAP).
func acceptsMail(id store.Identity) bool {
	email := id.Protocol == store.ProtocolEmail || (id.Type == store.RemoteIdentity && id.Protocol == "imap")
	return (id.Type == store.LocalIdentity || id.Type == store.RemoteIdentity) && email && id.Status == store.Active
}

// resolve attaches contact ids to participants: own, the user's own
// contact, for the receiving identity, the user's contacts found by address
// otherwise. Comportment +10 when every other participant is a known
// contact.
func resolve(ctx context.Context, d store.Delivery, m *store.Message, identifier, own string) error {
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
			cs, err := d.FindContacts(ctx, m.UserID, store.LookupEmail, pa.Address)
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
func tags(ctx context.Context, d store.Delivery, userID string, flags []string) ([]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	have, err := d.ListTags(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list tags of user %s: %w", userID, err)
	}
	for _, f := range flags {
		if slices.ContainsFunc(have, func(t store.Tag) bool { return t.Name == f }) {
			continue
		}
		if _, err := d.UpsertTag(ctx, store.Tag{UserID: userID, Name: f, Label: f, Type: "imported"}); err != nil {
			return nil, fmt.Errorf("create imported tag for user %s: %w", userID, err)
		}
	}
	return flags, nil
}

// discussion threads m: into the discussion of the newest message of the
// same user that m references (In-Reply-To, then References), else into the
// discussion keyed by the mailing list or by the participants hash. It
// returns that key too when the cache lacked it.
func (q *Qualifier) discussion(ctx context.Context, d store.Delivery, m *store.Message, listIDs []string) (id, key string, err error) {
	refs := slices.Clone(m.External.References)
	if m.External.InReplyTo != "" {
		refs = append(refs, m.External.InReplyTo)
	}
	if len(refs) > 0 {
		found, err := d.MessagesByExternalID(ctx, m.UserID, refs)
		if err != nil {
			return "", "", fmt.Errorf("find referenced messages of user %s: %w", m.UserID, err)
		}
		for i := len(found) - 1; i >= 0; i-- {
			if found[i].DiscussionID != "" {
				return found[i].DiscussionID, "", nil
			}
		}
	}
	key = ThreadKey(m.Participants, listIDs)
	if id, ok := q.discussions.Get(m.UserID, key); ok {
		return id, "", nil
	}
	if id, err = d.DiscussionID(ctx, m.UserID, key, m.Subject); err != nil {
		return "", "", fmt.Errorf("ensure discussion for user %s: %w", m.UserID, err)
	}
	return id, key, nil
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
func notification(m store.Message) store.Notification { return Notification(m, NotificationEmitter) }

// Notification is the new-message notification of m signed by emitter
// (long-lived); its id is derived from the message id, so a redelivered
// message creates it once.
func Notification(m store.Message, emitter string) store.Notification {
	body, _ := json.Marshal(map[string]string{"message_id": m.ID, "discussion_id": m.DiscussionID}) // cannot fail
	now := m.DateInsert
	if now.IsZero() {
		now = time.Now()
	}
	return store.Notification{
		ID:        uuid.NewSHA1(idSpace, []byte("notification\x00"+m.ID)).String(),
		UserID:    m.UserID,
		Type:      NotificationType,
		Emitter:   emitter,
		Reference: m.ID,
		Body:      string(body),
		ExpiresAt: now.Add(NotificationTTL),
	}
}
