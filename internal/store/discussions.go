package store

import (
	"context"
	"time"
)

// Discussion is a thread of messages of one user. The original computed
// discussions from its search index and hashed participants into the id;
// here a discussion is a row found by its Key (the hash or thread key the
// inbound pipeline computes), and the counts come from the messages.
type Discussion struct {
	ID            string
	UserID        string
	Key           string // natural key, unique per user
	Subject       string
	LastMessageAt time.Time // DateSort of its most recent message; the epoch before any
	Total         int       // messages in it (read only)
	Unread        int       // unread messages in it (read only)
	CreatedAt     time.Time
}

// Discussions groups messages into threads.
type Discussions interface {
	EnsureDiscussion(ctx context.Context, userID, key, subject string) (Discussion, error)
	GetDiscussion(ctx context.Context, userID, id string) (Discussion, error)
	ListDiscussions(ctx context.Context, userID string, p Page) ([]Discussion, string, error)
}

const discussionSelect = `SELECT d.id, d.user_id, d.thread_key, d.subject, d.last_message_at, d.created_at,
	(SELECT COUNT(*) FROM messages m WHERE m.user_id = d.user_id AND m.discussion_id = d.id),
	(SELECT COUNT(*) FROM messages m WHERE m.user_id = d.user_id AND m.discussion_id = d.id AND m.is_unread)
	FROM discussions d`

func scanDiscussion(r scanner) (Discussion, error) {
	var d Discussion
	err := r.Scan(&d.ID, &d.UserID, &d.Key, &d.Subject, timeCol{&d.LastMessageAt}, timeCol{&d.CreatedAt},
		&d.Total, &d.Unread)
	return d, err
}

const insertDiscussion = `INSERT INTO discussions (id, user_id, thread_key, subject, last_message_at, created_at)
	VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (user_id, thread_key) DO NOTHING`

// EnsureDiscussion returns the discussion of user userID with this key,
// creating it (with this subject) when there is none. It is an upsert: two
// concurrent calls get the same discussion.
func (s *SQL) EnsureDiscussion(ctx context.Context, userID, key, subject string) (Discussion, error) {
	op := "ensure discussion " + key
	if userID == "" || key == "" {
		return Discussion{}, invalid(op, "user id and key are required")
	}
	_, err := s.write().exec(ctx, insertDiscussion, newID(), userID, key, subject, micros(s.stamp()))
	if err != nil {
		return Discussion{}, s.fail(op, err)
	}
	return first(ctx, s, op, scanDiscussion,
		discussionSelect+` WHERE d.user_id = ? AND d.thread_key = ?`, userID, key)
}

// GetDiscussion returns discussion id of user userID with its counts.
func (s *SQL) GetDiscussion(ctx context.Context, userID, id string) (Discussion, error) {
	return first(ctx, s, "get discussion "+id, scanDiscussion,
		discussionSelect+` WHERE d.user_id = ? AND d.id = ?`, userID, id)
}

// ListDiscussions lists the discussions of user userID that hold at least
// one message, the most recently active first.
func (s *SQL) ListDiscussions(ctx context.Context, userID string, p Page) ([]Discussion, string, error) {
	return list(ctx, s.read(), s, p, listQuery[Discussion]{
		op: "list discussions",
		query: discussionSelect + ` WHERE d.user_id = ?
			AND EXISTS (SELECT 1 FROM messages m WHERE m.user_id = d.user_id AND m.discussion_id = d.id)`,
		args:   []any{userID},
		after:  `(d.last_message_at, d.id) < (?, ?)`,
		order:  `ORDER BY d.last_message_at DESC, d.id DESC`,
		timed:  true,
		scan:   scanDiscussion,
		cursor: func(d Discussion) string { return timeCursor(d.LastMessageAt, d.ID) },
	})
}
