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
	BeginSend(ctx context.Context, userID, id string, lease time.Duration, a SendAttempt) (Message, error)
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
	m.External.MessageID, m.RawMsgID, m.SendRawID = "", "", ""
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
//
// The same write records the attempt a (its sent copy's raw message id and
// Date) on the draft, unless an earlier attempt's is still there: a draft
// taken over after a lease keeps the attempt of the sender that died, and
// Attempted on the returned draft tells which one this send is. MarkSent
// keeps it, MarkSendFailed forgets it. A zero a records nothing.
func (s *SQL) BeginSend(ctx context.Context, userID, id string, lease time.Duration, a SendAttempt) (Message, error) {
	op := "begin send of draft " + id
	now := s.stamp()
	var m Message
	err := s.writeRow(ctx, func(r scanner) (err error) {
		m, err = scanMessage(r)
		return err
	}, `UPDATE messages SET send_state = ?, send_started_at = ?, send_error = '',
		date_at = CASE WHEN send_raw_id = '' AND ? <> '' THEN ? ELSE date_at END,
		send_raw_id = CASE WHEN send_raw_id = '' THEN ? ELSE send_raw_id END
		WHERE user_id = ? AND id = ? AND is_draft
		AND (send_state IN (?, ?) OR (send_state = ? AND send_started_at <= ?))
		RETURNING `+messageCols,
		SendSending, micros(now), a.RawMsgID, micros(orNow(a.Date, now)), a.RawMsgID,
		userID, id, SendDraft, SendFailed, SendSending, micros(now.Add(-lease)))
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
		var err error
		m, err = scanMessage(c.row(ctx, `UPDATE messages SET send_state = ?, is_draft = FALSE, external_message_id = ?,
			raw_msg_id = ?, date_at = ?, sort_at = ?, updated_at = ?, send_error = '', send_raw_id = '',
			discussion_id = COALESCE(?, discussion_id)
			WHERE user_id = ? AND id = ? AND send_state = ?
			RETURNING `+messageCols,
			SendSent, nullStr(info.MessageID), nullStr(info.RawMsgID), micros(at), micros(at), micros(at),
			nullStr(info.DiscussionID), userID, id, SendSending))
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

// Attempted returns the send attempt BeginSend recorded on draft m, if it
// is being sent. When it is not the attempt the caller passed to BeginSend,
// an earlier sender died holding the draft and may have handed it off: it
// did only if the attempt's sent copy was stored (the copy is stored
// before the hand-off).
func Attempted(m Message) (SendAttempt, bool) {
	if !m.IsDraft || m.SendState != SendSending || m.SendRawID == "" {
		return SendAttempt{}, false
	}
	return SendAttempt{RawMsgID: m.SendRawID, Date: m.Date}, true
}

// MarkSendFailed records why sending a draft failed, and forgets the
// recorded attempt (nothing went out); the draft can be edited or sent again.
// Repeating it for a failed draft changes nothing.
func (s *SQL) MarkSendFailed(ctx context.Context, userID, id, reason string) error {
	op := "mark draft " + id + " failed"
	err := s.write().one(ctx, `UPDATE messages SET send_state = ?, send_error = ?, updated_at = ?,
		send_raw_id = ''
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
