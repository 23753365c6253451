package store

import (
	"context"
	"time"
)

// Drafts manages drafts and their outbox state, so that a draft is sent
// once even when a send order is repeated.
type Drafts interface {
	CreateDraft(ctx context.Context, m Message) (Message, error)
	UpdateDraft(ctx context.Context, m Message) (Message, error)
	BeginSend(ctx context.Context, userID, id string, lease time.Duration) (Message, error)
	MarkSent(ctx context.Context, userID, id string, info SentInfo) (Message, error)
	MarkSendFailed(ctx context.Context, userID, id, reason string) error
}

// CreateDraft stores a new draft; an empty ID gets a fresh one. Repeating
// the call with the same ID returns the stored draft.
func (s *SQL) CreateDraft(ctx context.Context, m Message) (Message, error) {
	const op = "create draft"
	if m.UserID == "" {
		return Message{}, invalid(op, "user id is required")
	}
	m.ID = orNewID(m.ID)
	now := s.stamp()
	m.DateInsert, m.DateSort, m.UpdatedAt = now, now, now
	m.Date, m.SendStarted = norm(m.Date), time.Time{}
	m.IsDraft, m.IsReceived, m.SendState, m.SendError = true, false, SendDraft, ""
	m.External.MessageID, m.RawMsgID = "", ""
	var inserted bool
	err := s.tx(ctx, func(c conn) error {
		var err error
		inserted, err = insertMessage(ctx, c, &m)
		return err
	})
	if err != nil {
		return Message{}, s.fail(op, err)
	}
	if inserted {
		return m, nil
	}
	got, err := s.GetMessage(ctx, m.UserID, m.ID)
	if err != nil || !got.IsDraft && got.SendState == SendNone {
		return Message{}, conflict(op, "message id %s is taken", m.ID)
	}
	return got, nil
}

// UpdateDraft replaces what the author edits in a draft: identities,
// protocol, participants, subject, bodies, In-Reply-To and References,
// attachments, tags, importance and discussion. It is refused with
// ErrConflict once the draft is being sent or was sent; a failed draft
// becomes a plain draft again.
func (s *SQL) UpdateDraft(ctx context.Context, m Message) (Message, error) {
	op := "update draft " + m.ID
	now := s.stamp()
	m.DateSort = now
	err := s.tx(ctx, func(c conn) error {
		err := c.one(ctx, `UPDATE messages SET identity_ids = ?, protocol = ?, participants = ?, subject = ?,
			body_plain = ?, body_html = ?, in_reply_to = ?, references_ids = ?, attachments = ?, tags = ?,
			importance = ?, discussion_id = ?, sort_at = ?, updated_at = ?, send_state = ?, send_error = ''
			WHERE user_id = ? AND id = ? AND is_draft AND send_state IN (?, ?)`,
			jsonList(m.IdentityIDs), m.Protocol, jsonList(m.Participants), m.Subject, m.BodyPlain, m.BodyHTML,
			m.External.InReplyTo, jsonList(m.External.References), jsonList(m.Attachments), jsonList(m.Tags),
			m.Importance, nullStr(m.DiscussionID), micros(now), micros(now), SendDraft,
			m.UserID, m.ID, SendDraft, SendFailed)
		if err != nil {
			return err
		}
		return touchDiscussion(ctx, c, &m)
	})
	if err != nil {
		return Message{}, s.stateError(ctx, op, m.UserID, m.ID, err)
	}
	return s.GetMessage(ctx, m.UserID, m.ID)
}

// BeginSend moves a draft (or a failed one) to sending and returns it: the
// caller holds the right to send it until lease has passed. A draft that is
// already sending under a running lease, or was sent, gives ErrConflict;
// after the lease, another BeginSend may take over (the sender died).
func (s *SQL) BeginSend(ctx context.Context, userID, id string, lease time.Duration) (Message, error) {
	op := "begin send of draft " + id
	now := s.stamp()
	var m Message
	err := s.writeRow(ctx, func(r scanner) (err error) {
		m, err = scanMessage(r)
		return err
	}, `UPDATE messages SET send_state = ?, send_started_at = ?, send_error = ''
		WHERE user_id = ? AND id = ? AND is_draft
		AND (send_state IN (?, ?) OR (send_state = ? AND send_started_at <= ?))
		RETURNING `+messageCols,
		SendSending, micros(now), userID, id, SendDraft, SendFailed, SendSending, micros(now.Add(-lease)))
	if err != nil {
		return Message{}, s.stateError(ctx, op, userID, id, err)
	}
	return m, nil
}

// MarkSent records that a sending draft went out: it stops being a draft,
// takes its Message-ID, raw message and send date, and moves to the top of
// lists. Repeating the call for a sent message with the same Message-ID
// returns it unchanged; any other state gives ErrConflict.
func (s *SQL) MarkSent(ctx context.Context, userID, id string, info SentInfo) (Message, error) {
	op := "mark draft " + id + " sent"
	at := orNow(info.Date, s.stamp())
	var m Message
	err := s.tx(ctx, func(c conn) error {
		if err := s.sentRaw(ctx, c, &info); err != nil {
			return err
		}
		err := c.one(ctx, `UPDATE messages SET send_state = ?, is_draft = FALSE, external_message_id = ?,
			raw_msg_id = ?, date_at = ?, sort_at = ?, updated_at = ?, send_error = ''
			WHERE user_id = ? AND id = ? AND send_state = ?`,
			SendSent, nullStr(info.MessageID), nullStr(info.RawMsgID), micros(at), micros(at), micros(at),
			userID, id, SendSending)
		if err != nil {
			return err
		}
		m, err = getMessage(ctx, c, userID, id)
		if err != nil {
			return err
		}
		return touchDiscussion(ctx, c, &m)
	})
	if err == nil {
		return m, nil
	}
	if got, gerr := s.GetMessage(ctx, userID, id); gerr == nil && got.SendState == SendSent &&
		got.External.MessageID == info.MessageID {
		return got, nil
	}
	return Message{}, s.stateError(ctx, op, userID, id, err)
}

// RecordHandoff notes on a draft being sent the copy it is about to be
// handed off as (its raw message, Message-ID and date), before the hand-off:
// a later attempt that takes the draft over finds them (HandedOff) and must
// finish the send without sending again. MarkSent keeps them, MarkSendFailed
// clears them. Any state other than sending gives ErrConflict.
func (s *SQL) RecordHandoff(ctx context.Context, userID, id string, info SentInfo) error {
	op := "record the hand-off of draft " + id
	err := s.tx(ctx, func(c conn) error {
		if err := s.sentRaw(ctx, c, &info); err != nil {
			return err
		}
		return c.one(ctx, `UPDATE messages SET external_message_id = ?, raw_msg_id = ?, date_at = ?
			WHERE user_id = ? AND id = ? AND is_draft AND send_state = ?`,
			nullStr(info.MessageID), nullStr(info.RawMsgID), micros(orNow(info.Date, s.stamp())), userID, id, SendSending)
	})
	if err != nil {
		return s.stateError(ctx, op, userID, id, err)
	}
	return nil
}

// HandedOff returns what RecordHandoff noted on draft m, if anything: a
// draft otherwise has neither a raw message nor a Message-ID of its own.
func HandedOff(m Message) (SentInfo, bool) {
	if !m.IsDraft || m.RawMsgID == "" || m.External.MessageID == "" {
		return SentInfo{}, false
	}
	return SentInfo{MessageID: m.External.MessageID, RawMsgID: m.RawMsgID, Date: m.Date}, true
}

// MarkSendFailed records why sending a draft failed, and forgets a recorded
// hand-off (the server refused it); the draft can be edited or sent again.
// Repeating it for a failed draft changes nothing.
func (s *SQL) MarkSendFailed(ctx context.Context, userID, id, reason string) error {
	op := "mark draft " + id + " failed"
	err := s.write().one(ctx, `UPDATE messages SET send_state = ?, send_error = ?, updated_at = ?,
		external_message_id = NULL, raw_msg_id = NULL
		WHERE user_id = ? AND id = ? AND send_state IN (?, ?)`,
		SendFailed, reason, micros(s.stamp()), userID, id, SendSending, SendFailed)
	if err != nil {
		return s.stateError(ctx, op, userID, id, err)
	}
	return nil
}

// stateError explains a compare-and-set update of message id that changed
// nothing: the message is missing (ErrNotFound) or in another state
// (ErrConflict).
func (s *SQL) stateError(ctx context.Context, op, userID, id string, err error) error {
	if !isNoRows(err) {
		return s.fail(op, err)
	}
	got, gerr := s.GetMessage(ctx, userID, id)
	if gerr != nil {
		return s.fail(op, gerr)
	}
	return conflict(op, "message is in state %q (draft: %v)", got.SendState, got.IsDraft)
}
