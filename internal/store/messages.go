package store

import (
	"context"
	"strings"
)

// Messages reads the messages of a user and applies the user's edits.
type Messages interface {
	GetMessage(ctx context.Context, userID, id string) (Message, error)
	ListMessages(ctx context.Context, userID string, f MessageFilter, p Page) ([]Message, string, error)
	SetMessageFlags(ctx context.Context, userID, id string, f MessageFlags) error
	SetMessageTags(ctx context.Context, userID, id string, tags []string) error
	DeleteMessage(ctx context.Context, userID, id string) error
	MessageRaw(ctx context.Context, userID, id string) (RawMessage, error)
}

const messageCols = `id, user_id, discussion_id, identity_ids, protocol, participants, subject, body_plain,
	body_html, date_at, inserted_at, sort_at, is_draft, is_unread, is_received, is_answered, importance,
	external_message_id, in_reply_to, references_ids, attachments, raw_msg_id, tags, pi, privacy_features,
	send_state, send_error, send_started_at, send_raw_id, updated_at, content_hash, message_id_reused`

func scanMessage(r scanner) (Message, error) {
	var m Message
	err := r.Scan(&m.ID, &m.UserID, strCol{&m.DiscussionID}, jsonCol{&m.IdentityIDs}, &m.Protocol,
		jsonCol{&m.Participants}, &m.Subject, &m.BodyPlain, &m.BodyHTML, timeCol{&m.Date}, timeCol{&m.DateInsert},
		timeCol{&m.DateSort}, &m.IsDraft, &m.IsUnread, &m.IsReceived, &m.IsAnswered, &m.Importance,
		strCol{&m.External.MessageID}, &m.External.InReplyTo, jsonCol{&m.External.References},
		jsonCol{&m.Attachments}, strCol{&m.RawMsgID}, jsonCol{&m.Tags}, jsonCol{&m.PI}, jsonCol{&m.Features},
		&m.SendState, &m.SendError, timeCol{&m.SendStarted}, &m.SendRawID, timeCol{&m.UpdatedAt}, &m.ContentHash,
		&m.MessageIDReused)
	return m, err
}

// messageArgs returns the column values of m in the order of messageCols.
func messageArgs(m *Message) []any {
	m.PI.DateUpdate = norm(m.PI.DateUpdate)
	return []any{m.ID, m.UserID, nullStr(m.DiscussionID), jsonList(m.IdentityIDs), m.Protocol,
		jsonList(m.Participants), m.Subject, m.BodyPlain, m.BodyHTML, micros(m.Date), micros(m.DateInsert),
		micros(m.DateSort), m.IsDraft, m.IsUnread, m.IsReceived, m.IsAnswered, m.Importance,
		nullStr(m.External.MessageID), m.External.InReplyTo, jsonList(m.External.References),
		jsonList(m.Attachments), nullStr(m.RawMsgID), jsonList(m.Tags), mustJSON(m.PI), jsonMap(m.Features),
		m.SendState, m.SendError, micros(m.SendStarted), m.SendRawID, micros(m.UpdatedAt), m.ContentHash,
		m.MessageIDReused}
}

// insertMessage inserts m, doing nothing when any uniqueness rule (id, or
// user, Message-ID and content hash) already holds a row; it reports whether it inserted.
// It moves the message's discussion forward in time.
func insertMessage(ctx context.Context, c conn, m *Message) (bool, error) {
	args := messageArgs(m)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	var id string
	err := c.row(ctx, `INSERT INTO messages (`+messageCols+`) VALUES (`+marks+`)
		ON CONFLICT DO NOTHING RETURNING id`, args...).Scan(&id)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, touchDiscussion(ctx, c, m)
}

// touchDiscussion moves the last activity of m's discussion to m.DateSort.
func touchDiscussion(ctx context.Context, c conn, m *Message) error {
	if m.DiscussionID == "" {
		return nil
	}
	_, err := c.exec(ctx, `UPDATE discussions SET last_message_at = ?
		WHERE user_id = ? AND id = ? AND last_message_at < ?`,
		micros(m.DateSort), m.UserID, m.DiscussionID, micros(m.DateSort))
	return err
}

// GetMessage returns message id of user userID.
func (s *SQL) GetMessage(ctx context.Context, userID, id string) (Message, error) {
	m, err := getMessage(ctx, s.read(), userID, id)
	if err != nil {
		return Message{}, s.fail("get message "+id, err)
	}
	return m, nil
}

func getMessage(ctx context.Context, c conn, userID, id string) (Message, error) {
	return scanMessage(c.row(ctx, `SELECT `+messageCols+` FROM messages WHERE user_id = ? AND id = ?`, userID, id))
}

// ListMessages lists the messages of user userID matching f, the most
// recent (by DateSort) first.
func (s *SQL) ListMessages(ctx context.Context, userID string, f MessageFilter, p Page) ([]Message, string, error) {
	q, args := `SELECT `+messageCols+` FROM messages WHERE user_id = ?`, []any{userID}
	if f.DiscussionID != "" {
		q += ` AND discussion_id = ?`
		args = append(args, f.DiscussionID)
	}
	if f.IsDraft != nil {
		q += ` AND is_draft = ?`
		args = append(args, *f.IsDraft)
	}
	if f.IsUnread != nil {
		q += ` AND is_unread = ?`
		args = append(args, *f.IsUnread)
	}
	return list(ctx, s.read(), s, p, listQuery[Message]{
		op:     "list messages",
		query:  q,
		args:   args,
		after:  `(sort_at, id) < (?, ?)`,
		order:  `ORDER BY sort_at DESC, id DESC`,
		timed:  true,
		scan:   scanMessage,
		cursor: func(m Message) string { return timeCursor(m.DateSort, m.ID) },
	})
}

// SetMessageFlags changes the unread and answered flags of a message.
func (s *SQL) SetMessageFlags(ctx context.Context, userID, id string, f MessageFlags) error {
	err := s.write().one(ctx, `UPDATE messages SET is_unread = COALESCE(?, is_unread),
		is_answered = COALESCE(?, is_answered), updated_at = ? WHERE user_id = ? AND id = ?`,
		boolArg(f.IsUnread), boolArg(f.IsAnswered), micros(s.stamp()), userID, id)
	if err != nil {
		return s.fail("set flags of message "+id, err)
	}
	return nil
}

// SetMessageTags replaces the tag names of a message.
func (s *SQL) SetMessageTags(ctx context.Context, userID, id string, tags []string) error {
	err := s.write().one(ctx, `UPDATE messages SET tags = ?, updated_at = ? WHERE user_id = ? AND id = ?`,
		jsonList(tags), micros(s.stamp()), userID, id)
	if err != nil {
		return s.fail("set tags of message "+id, err)
	}
	return nil
}

// DeleteMessage deletes a message. Its raw message stays: it may be shared
// by other recipients.
func (s *SQL) DeleteMessage(ctx context.Context, userID, id string) error {
	if err := s.write().one(ctx, `DELETE FROM messages WHERE user_id = ? AND id = ?`, userID, id); err != nil {
		return s.fail("delete message "+id, err)
	}
	return nil
}

// MessageRaw returns the raw message of message id of user userID: the way
// a user reaches a raw message, which belongs to no user.
func (s *SQL) MessageRaw(ctx context.Context, userID, id string) (RawMessage, error) {
	return first(ctx, s, "get raw of message "+id, scanRaw,
		`SELECT `+prefixed("r.", rawCols)+` FROM raw_messages r
		JOIN messages m ON m.raw_msg_id = r.id WHERE m.user_id = ? AND m.id = ?`, userID, id)
}

// boolArg is the column value of an optional bool.
func boolArg(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// prefixed qualifies each column of the list cols with p.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
