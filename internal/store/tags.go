package store

import (
	"context"
	"time"
)

// Tag is a label a user puts on messages and contacts, named by Name
// (unique per user), as the original's user_tag.
type Tag struct {
	UserID     string
	Name       string
	Label      string
	Type       string // "user", or "imported" for IMAP flags and Gmail labels
	Importance int
	CreatedAt  time.Time
}

// Tags manages the tags of users.
type Tags interface {
	UpsertTag(ctx context.Context, t Tag) (Tag, error)
	ListTags(ctx context.Context, userID string) ([]Tag, error)
	DeleteTag(ctx context.Context, userID, name string) error
}

const tagCols = `user_id, name, label, type, importance, created_at`

func scanTag(r scanner) (Tag, error) {
	var t Tag
	err := r.Scan(&t.UserID, &t.Name, &t.Label, &t.Type, &t.Importance, timeCol{&t.CreatedAt})
	return t, err
}

const upsertTag = `INSERT INTO tags (` + tagCols + `) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (user_id, name) DO UPDATE SET label = excluded.label, type = excluded.type,
	importance = excluded.importance RETURNING ` + tagCols

// UpsertTag stores tag t, or updates the label, type and importance of the
// user's tag with the same name, and returns what is stored.
func (s *SQL) UpsertTag(ctx context.Context, t Tag) (Tag, error) {
	args, err := s.upsertTagArgs(t)
	if err != nil {
		return Tag{}, err
	}
	var got Tag
	err = s.writeRow(ctx, func(r scanner) error {
		var err error
		got, err = scanTag(r)
		return err
	}, upsertTag, args...)
	if err != nil {
		return Tag{}, s.fail(upsertTagOp, err)
	}
	return got, nil
}

const upsertTagOp = "upsert tag"

// upsertTagArgs checks t and returns upsertTag's arguments.
func (s *SQL) upsertTagArgs(t Tag) ([]any, error) {
	if t.UserID == "" || t.Name == "" {
		return nil, invalid(upsertTagOp, "user id and name are required")
	}
	return []any{t.UserID, t.Name, t.Label, t.Type, t.Importance, micros(s.stamp())}, nil
}

// ListTags returns the tags of user userID by name.
func (s *SQL) ListTags(ctx context.Context, userID string) ([]Tag, error) {
	return listTags(ctx, s.read(), s, userID)
}

func listTags(ctx context.Context, c conn, s *SQL, userID string) ([]Tag, error) {
	return allOn(ctx, c, s, "list tags", scanTag, `SELECT `+tagCols+` FROM tags WHERE user_id = ? ORDER BY name`, userID)
}

// DeleteTag deletes tag name of user userID. Messages keep the name in
// their tags.
func (s *SQL) DeleteTag(ctx context.Context, userID, name string) error {
	if err := s.write().one(ctx, `DELETE FROM tags WHERE user_id = ? AND name = ?`, userID, name); err != nil {
		return s.fail("delete tag "+name, err)
	}
	return nil
}
