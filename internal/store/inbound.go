package store

import (
	"context"
	"slices"
	"strings"
)

// Inbox stores received messages, once per (user, Message-ID, content).
type Inbox interface {
	PutInbound(ctx context.Context, m Message) (Message, bool, error)
	MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]Message, error)
}

// PutInbound stores a received message for its user and returns it with
// dup = false. When the user already has a message with the same Message-ID
// and the same ContentHash (or one whose hash is "": a sent message, or one
// stored without a hash), or with the same ID, nothing new is stored: the
// existing message is returned with dup = true, after adding m's first
// identity to its identities if it was not there (the original's dedup,
// caliopen-original.md §9.4). A message with a Message-ID the user has
// under other content is stored, and it and the others with that id are
// marked MessageIDReused: a forged earlier mail does not suppress the real
// one. A message without a Message-ID is never a duplicate of another.
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

// sameExternalID returns the messages of m's user with m's Message-ID.
func sameExternalID(ctx context.Context, c conn, m *Message) ([]Message, error) {
	if m.External.MessageID == "" {
		return nil, nil
	}
	rows, err := c.query(ctx, `SELECT `+messageCols+` FROM messages WHERE user_id = ? AND external_message_id = ?`,
		m.UserID, m.External.MessageID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanMessage)
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
// first identity to it; a new message whose Message-ID the user has under
// other content is marked, with those, MessageIDReused.
func putInbound(ctx context.Context, c conn, m Message) (Message, bool, error) {
	same, err := sameExternalID(ctx, c, &m)
	if err != nil {
		return Message{}, false, err
	}
	for _, o := range same {
		if o.ContentHash == "" || o.ContentHash == m.ContentHash || o.ID == m.ID {
			return addIdentity(ctx, c, o, m)
		}
	}
	m.MessageIDReused = len(same) > 0
	inserted, err := insertMessage(ctx, c, &m)
	if err != nil {
		return Message{}, false, err
	}
	if !inserted {
		// The id is taken (a redelivery, or another user's message), or a
		// concurrent transaction stored the same mail first.
		stored, err := getMessage(ctx, c, m.UserID, m.ID)
		if isNoRows(err) {
			if same, err = sameExternalID(ctx, c, &m); err != nil {
				return Message{}, true, err
			}
			for _, o := range same {
				if o.ContentHash == m.ContentHash {
					return addIdentity(ctx, c, o, m)
				}
			}
			return Message{}, true, conflict("put inbound message", "message id %s is taken", m.ID)
		}
		if err != nil {
			return Message{}, true, err
		}
		return addIdentity(ctx, c, stored, m)
	}
	if m.MessageIDReused {
		_, err = c.exec(ctx, `UPDATE messages SET message_id_reused = TRUE
			WHERE user_id = ? AND external_message_id = ? AND NOT message_id_reused`, m.UserID, m.External.MessageID)
	}
	return m, false, err
}

// addIdentity adds m's first identity to stored, the message m
// duplicates, and returns it as a duplicate.
func addIdentity(ctx context.Context, c conn, stored, m Message) (Message, bool, error) {
	if len(m.IdentityIDs) == 0 || slices.Contains(stored.IdentityIDs, m.IdentityIDs[0]) {
		return stored, true, nil
	}
	stored.IdentityIDs = append(stored.IdentityIDs, m.IdentityIDs[0])
	_, err := c.exec(ctx, `UPDATE messages SET identity_ids = ? WHERE user_id = ? AND id = ?`,
		jsonList(stored.IdentityIDs), stored.UserID, stored.ID)
	return stored, true, err
}
