package store

import (
	"context"
	"time"
)

// Notification tells a user about an event (new messages, ...). The
// original wrote it with a Cassandra TTL; here ExpiresAt plays that part:
// expired notifications are hidden from lists and removed by
// PurgeNotifications.
type Notification struct {
	ID        string
	UserID    string
	Type      string    // "event", "feedback", ...
	Emitter   string    // who emitted it ("smtp-inbound", "api", ...)
	Reference string    // the object it is about, e.g. a message id
	Body      string    // JSON document
	CreatedAt time.Time // zero means now
	ExpiresAt time.Time // zero means never
}

// The notification of new mail, as the original's inbound paths wrote it:
// type new_message, long-lived (43,200 s).
const (
	NewMessageNotification = "new_message"
	LongLivedNotification  = 12 * time.Hour
)

// Notifications manages notifications.
type Notifications interface {
	CreateNotification(ctx context.Context, n Notification) (Notification, error)
	ListNotifications(ctx context.Context, userID string, p Page) ([]Notification, string, error)
	DeleteNotification(ctx context.Context, userID, id string) error
	PurgeNotifications(ctx context.Context, now time.Time) (int64, error)
}

const notificationCols = `id, user_id, type, emitter, reference, body, created_at, expires_at`

func scanNotification(r scanner) (Notification, error) {
	var n Notification
	err := r.Scan(&n.ID, &n.UserID, &n.Type, &n.Emitter, &n.Reference, &n.Body, timeCol{&n.CreatedAt},
		timeCol{&n.ExpiresAt})
	return n, err
}

// CreateNotification stores a notification; an empty ID gets a fresh one.
// Repeating the call with the same ID stores nothing new and returns the
// stored notification.
func (s *SQL) CreateNotification(ctx context.Context, n Notification) (Notification, error) {
	const op = "create notification"
	if n.UserID == "" {
		return Notification{}, invalid(op, "user id is required")
	}
	n = s.notification(n)
	if err := insertNotification(ctx, s.write(), n, false); err != nil {
		return repeated(s.fail(op, err), func() (Notification, error) {
			return scanNotification(s.read().row(ctx, `SELECT `+notificationCols+` FROM notifications
				WHERE user_id = ? AND id = ?`, n.UserID, n.ID))
		}, func(Notification) bool { return true })
	}
	return n, nil
}

// ListNotifications lists the unexpired notifications of user userID, the
// newest first.
func (s *SQL) ListNotifications(ctx context.Context, userID string, p Page) ([]Notification, string, error) {
	return list(ctx, s.read(), s, p, listQuery[Notification]{
		op: "list notifications",
		query: `SELECT ` + notificationCols + ` FROM notifications
			WHERE user_id = ? AND (expires_at IS NULL OR expires_at > ?)`,
		args:   []any{userID, micros(s.stamp())},
		after:  `(created_at, id) < (?, ?)`,
		order:  `ORDER BY created_at DESC, id DESC`,
		timed:  true,
		scan:   scanNotification,
		cursor: func(n Notification) string { return timeCursor(n.CreatedAt, n.ID) },
	})
}

// DeleteNotification deletes notification id of user userID.
func (s *SQL) DeleteNotification(ctx context.Context, userID, id string) error {
	if err := s.write().one(ctx, `DELETE FROM notifications WHERE user_id = ? AND id = ?`, userID, id); err != nil {
		return s.fail("delete notification "+id, err)
	}
	return nil
}

// PurgeNotifications deletes the notifications, of every user, that expired
// at or before now, and returns how many it deleted.
func (s *SQL) PurgeNotifications(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.write().exec(ctx, `DELETE FROM notifications WHERE expires_at <= ?`, micros(orNow(now, s.stamp())))
	if err != nil {
		return 0, s.fail("purge notifications", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail("purge notifications", err)
	}
	return n, nil
}

// notification gives n its defaults: an ID, a creation time.
func (s *SQL) notification(n Notification) Notification {
	n.ID = orNewID(n.ID)
	n.CreatedAt, n.ExpiresAt = orNow(n.CreatedAt, s.stamp()), norm(n.ExpiresAt)
	return n
}

// insertNotification inserts n; keep says an existing one with its ID is
// kept without error.
func insertNotification(ctx context.Context, c conn, n Notification, keep bool) error {
	q := `INSERT INTO notifications (` + notificationCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	if keep {
		q += ` ON CONFLICT (id) DO NOTHING`
	}
	_, err := c.exec(ctx, q, n.ID, n.UserID, n.Type, n.Emitter, n.Reference, n.Body, micros(n.CreatedAt), micros(n.ExpiresAt))
	return err
}
