package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
)

// Inbox stores received messages, once per (user, Message-ID).
type Inbox interface {
	PutInbound(ctx context.Context, m Message) (Message, bool, error)
	MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]Message, error)
}

// PutInbound stores a received message for its user and returns it with
// dup = false. When the user already has a message with the same Message-ID
// (or the same ID), nothing new is stored: the existing message is returned
// with dup = true, after adding m's first identity to its identities if it
// was not there (the original's dedup, caliopen-original.md §9.4). A
// message without a Message-ID is never a duplicate of another.
//
// The store sets DateInsert; a zero DateSort becomes the arrival time. The
// message is stored as received: not a draft, no send state.
func (s *SQL) PutInbound(ctx context.Context, m Message) (Message, bool, error) {
	return s.PutInboundNotify(ctx, m, nil)
}

// PutInboundNotify is PutInbound that also stores, in the same
// transaction, the notification notify builds from the stored message:
// for a new message, and for a duplicate stored from the same raw message
// (a redelivery finishing what an interrupted one began), not for another
// copy of a stored mail. A notification whose ID exists is kept as it is.
// A nil notify stores none.
func (s *SQL) PutInboundNotify(ctx context.Context, m Message, notify func(Message) Notification) (Message, bool, error) {
	const op = "put inbound message"
	if m.UserID == "" {
		return Message{}, false, invalid(op, "user id is required")
	}
	m.External.MessageID = strings.TrimSpace(m.External.MessageID)
	m.ID = orNewID(m.ID)
	now := s.stamp()
	m.DateInsert, m.UpdatedAt = now, now
	m.DateSort = orNow(m.DateSort, now)
	m.Date, m.SendStarted = norm(m.Date), norm(m.SendStarted)
	m.IsDraft, m.SendState, m.SendError = false, SendNone, ""
	var (
		stored Message
		dup    bool
	)
	err := s.tx(ctx, func(c conn) error {
		var err error
		if stored, dup, err = putInbound(ctx, c, m); err != nil {
			return err
		}
		if notify == nil || (dup && stored.RawMsgID != m.RawMsgID) {
			return nil
		}
		return insertNotification(ctx, c, s.notification(notify(stored)), true)
	})
	if err != nil {
		return Message{}, false, s.fail(op, err)
	}
	return stored, dup, nil
}

// existingInbound finds the message that kept m from being inserted.
func existingInbound(ctx context.Context, c conn, m *Message) (Message, error) {
	if m.External.MessageID != "" {
		got, err := scanMessage(c.row(ctx, `SELECT `+messageCols+` FROM messages
			WHERE user_id = ? AND external_message_id = ?`, m.UserID, m.External.MessageID))
		if !isNoRows(err) {
			return got, err
		}
	}
	got, err := getMessage(ctx, c, m.UserID, m.ID)
	if isNoRows(err) {
		// The id is taken by another user's message.
		return Message{}, conflict("put inbound message", "message id %s is taken", m.ID)
	}
	return got, err
}

// MessagesByExternalID returns the messages of user userID whose Message-ID
// is one of messageIDs (at most MaxLimit of them), for threading replies
// into discussions. Unknown ids are skipped.
func (s *SQL) MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]Message, error) {
	const op = "messages by external id"
	if len(messageIDs) == 0 {
		return nil, nil
	}
	if len(messageIDs) > MaxLimit {
		return nil, invalid(op, "more than %d ids", MaxLimit)
	}
	args := []any{userID}
	for _, id := range messageIDs {
		args = append(args, id)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(messageIDs)), ", ")
	return all(ctx, s, op, scanMessage, `SELECT `+messageCols+` FROM messages
		WHERE user_id = ? AND external_message_id IN (`+marks+`) ORDER BY sort_at, id`, args...)
}

// putInbound inserts m, or finds the message it duplicates and adds m's
// first identity to it.
func putInbound(ctx context.Context, c conn, m Message) (Message, bool, error) {
	inserted, err := insertMessage(ctx, c, &m)
	if err != nil || inserted {
		return m, false, err
	}
	stored, err := existingInbound(ctx, c, &m)
	if err != nil {
		return Message{}, true, err
	}
	if len(m.IdentityIDs) == 0 || slices.Contains(stored.IdentityIDs, m.IdentityIDs[0]) {
		return stored, true, nil
	}
	stored.IdentityIDs = append(stored.IdentityIDs, m.IdentityIDs[0])
	_, err = c.exec(ctx, `UPDATE messages SET identity_ids = ? WHERE user_id = ? AND id = ?`,
		jsonList(stored.IdentityIDs), stored.UserID, stored.ID)
	return stored, true, err
}

// InboundTarget is what storing an inbound message for one identity needs
// to read, in one query: the identity that received it (its settings,
// credentials and sync state are not read), its user's own contact, and
// the record of the raw message.
type InboundTarget struct {
	Identity  Identity   // ID, UserID, Type, Protocol, Identifier and Status only
	ContactID string     // the user's own contact; "" when the user has none
	Raw       RawMessage // zero (empty ID) when the raw message is not recorded
}

// GetInboundTarget reads identity identityID of user userID, the user's
// own contact and raw message rawID. ErrNotFound when the user has no such
// identity; a raw message that is not recorded leaves Raw zero.
func (s *SQL) GetInboundTarget(ctx context.Context, userID, identityID, rawID string) (InboundTarget, error) {
	var (
		t        InboundTarget
		i        = &t.Identity
		rawKey   sql.NullString
		rawSize  sql.NullInt64
		rawDone  sql.NullBool
		rawFound sql.NullString
	)
	err := s.read().row(ctx, `SELECT i.id, i.user_id, i.type, i.protocol, i.identifier, i.status, u.contact_id,
			r.id, r.blob_key, r.size, r.delivered, r.created_at
		FROM identities i JOIN users u ON u.id = i.user_id LEFT JOIN raw_messages r ON r.id = ?
		WHERE i.user_id = ? AND i.id = ?`, rawID, userID, identityID).
		Scan(&i.ID, &i.UserID, &i.Type, &i.Protocol, &i.Identifier, &i.Status, &t.ContactID,
			&rawFound, &rawKey, &rawSize, &rawDone, timeCol{&t.Raw.CreatedAt})
	if err != nil {
		return InboundTarget{}, s.fail("get inbound target "+identityID, err)
	}
	if rawFound.Valid {
		t.Raw.ID, t.Raw.BlobKey, t.Raw.Size, t.Raw.Delivered = rawFound.String, rawKey.String, rawSize.Int64, rawDone.Bool
	}
	return t, nil
}
