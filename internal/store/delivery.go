package store

import (
	"context"
	"database/sql"
	"strings"
)

// Delivery is the write transaction of one inbound message. What storing
// the message reads (the identity that received it, contacts, threading)
// is read on the writer's connection: on SQLite its page cache is warm,
// where a reader's cache is emptied by every commit. What it writes (the
// raw message's record, a discussion, imported tags, the message and its
// notification) commits together.
type Delivery struct {
	s *SQL
	c conn
}

const deliverOp = "deliver inbound message"

// Deliver runs fn in one write transaction, committed when fn returns nil.
// On SQLite the transaction is a savepoint in a group commit, and fn may
// run more than once (the batch runs again without a write that broke
// it): fn must leave nothing outside the transaction, and read its
// results only once Deliver returned nil. fn's error is returned without
// another wrap (errors.Is finds it; PostgreSQL may join a rollback's error).
func (s *SQL) Deliver(ctx context.Context, fn func(d Delivery) error) error {
	var fnErr error
	err := s.tx(ctx, func(c conn) error {
		fnErr = fn(Delivery{s: s, c: c})
		return fnErr
	})
	if err != nil && fnErr == nil {
		return s.fail(deliverOp, err)
	}
	return err
}

// Target reads identity identityID of user userID (its ID, UserID, Type,
// Protocol, Identifier and Status; not its settings, credentials or sync
// state) and the user's own contact, "" when the user has none.
// ErrNotFound when the user has no such identity.
func (d Delivery) Target(ctx context.Context, userID, identityID string) (Identity, string, error) {
	var (
		i       Identity
		contact sql.NullString
	)
	err := d.c.row(ctx, `SELECT i.id, i.user_id, i.type, i.protocol, i.identifier, i.status, u.contact_id
		FROM identities i JOIN users u ON u.id = i.user_id WHERE i.user_id = ? AND i.id = ?`, userID, identityID).
		Scan(&i.ID, &i.UserID, &i.Type, &i.Protocol, &i.Identifier, &i.Status, &contact)
	if err != nil {
		return Identity{}, "", d.s.fail("inbound identity "+identityID, err)
	}
	return i, contact.String, nil
}

// RecordRaw records raw message r unless its ID is recorded: the message
// refers to it. Delivered and CreatedAt are the store's.
func (d Delivery) RecordRaw(ctx context.Context, r RawMessage) error {
	const op = "record raw message"
	if r.ID == "" || r.BlobKey == "" || r.Size < 0 {
		return invalid(op, "an id, a blob key and a size are required")
	}
	r.Delivered, r.CreatedAt = false, d.s.stamp()
	if _, err := insertRaw(ctx, d.c, r); err != nil {
		return d.s.fail(op, err)
	}
	return nil
}

// FindContacts is SQL.FindContacts in the transaction.
func (d Delivery) FindContacts(ctx context.Context, userID, kind, value string) ([]Contact, error) {
	return findContacts(ctx, d.c, d.s, userID, kind, value)
}

// MessagesByExternalID is SQL.MessagesByExternalID in the transaction.
func (d Delivery) MessagesByExternalID(ctx context.Context, userID string, messageIDs []string) ([]Message, error) {
	return messagesByExternalID(ctx, d.c, d.s, userID, messageIDs)
}

// DiscussionID returns the id of user userID's discussion with this key,
// created with this subject when there is none (EnsureDiscussion without
// the counts).
func (d Delivery) DiscussionID(ctx context.Context, userID, key, subject string) (string, error) {
	op := "ensure discussion " + key
	if userID == "" || key == "" {
		return "", invalid(op, "user id and key are required")
	}
	if _, err := d.c.exec(ctx, insertDiscussion, newID(), userID, key, subject, micros(d.s.stamp())); err != nil {
		return "", d.s.fail(op, err)
	}
	var id string
	if err := d.c.row(ctx, `SELECT id FROM discussions WHERE user_id = ? AND thread_key = ?`, userID, key).Scan(&id); err != nil {
		return "", d.s.fail(op, err)
	}
	return id, nil
}

// ListTags is SQL.ListTags in the transaction.
func (d Delivery) ListTags(ctx context.Context, userID string) ([]Tag, error) {
	return listTags(ctx, d.c, d.s, userID)
}

// UpsertTag is SQL.UpsertTag in the transaction.
func (d Delivery) UpsertTag(ctx context.Context, t Tag) (Tag, error) {
	args, err := d.s.upsertTagArgs(t)
	if err != nil {
		return Tag{}, err
	}
	got, err := scanTag(d.c.row(ctx, upsertTag, args...))
	if err != nil {
		return Tag{}, d.s.fail(upsertTagOp, err)
	}
	return got, nil
}

// PutInbound is SQL.PutInboundNotify in the transaction.
func (d Delivery) PutInbound(ctx context.Context, m Message, notify func(Message) Notification) (Message, bool, error) {
	const op = "put inbound message"
	if m.UserID == "" {
		return Message{}, false, invalid(op, "user id is required")
	}
	m.External.MessageID = strings.TrimSpace(m.External.MessageID)
	m.ID = orNewID(m.ID)
	now := d.s.stamp()
	m.DateInsert, m.UpdatedAt = now, now
	m.DateSort = orNow(m.DateSort, now)
	m.Date, m.SendStarted = norm(m.Date), norm(m.SendStarted)
	m.IsDraft, m.SendState, m.SendError = false, SendNone, ""
	stored, dup, err := putInbound(ctx, d.c, m)
	if err == nil && notify != nil && (!dup || stored.RawMsgID == m.RawMsgID) {
		err = insertNotification(ctx, d.c, d.s.notification(notify(stored)), true)
	}
	if err != nil {
		return Message{}, false, d.s.fail(op, err)
	}
	return stored, dup, nil
}
