package store

import (
	"context"
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
	var (
		stored Message
		dup    bool
	)
	err := s.Deliver(ctx, func(d Delivery) error {
		var err error
		stored, dup, err = d.PutInbound(ctx, m, notify)
		return err
	})
	if err != nil {
		return Message{}, false, err
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
	return messagesByExternalID(ctx, s.read(), s, userID, messageIDs)
}

func messagesByExternalID(ctx context.Context, c conn, s *SQL, userID string, messageIDs []string) ([]Message, error) {
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
	return allOn(ctx, c, s, op, scanMessage, `SELECT `+messageCols+` FROM messages
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
