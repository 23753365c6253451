package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// RawMessage is the record of a message as it came in (or went out); its
// bytes are in the blob store under BlobKey. It belongs to no user: one
// inbound SMTP transaction gives one raw message shared by every
// recipient. Simplified from the original: the bytes are never inline.
type RawMessage struct {
	ID        string // a fresh UUID or a content hash, chosen by the writer
	BlobKey   string
	Size      int64
	Delivered bool // every recipient was processed, or the message was sent
	CreatedAt time.Time
}

// RawID is the id of a received raw message: the hex SHA-256 of its bytes,
// so that a retried delivery or a second fetch of the same message finds
// the same raw message (and the same stored messages).
func RawID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// RawKey is the blob key of raw message id, an id RawID gave: "raw/<id>".
// The keys share one prefix, as a Maildir folder's messages share one
// directory: in a blob directory the messages written at the same time
// then share the directory's fsync, where spreading them over directories
// would cost each its own (docs/benchmarks.md, "IMAP sync"). A record
// names its key, so records stored under another layout stay readable.
func RawKey(id string) string { return RawPrefix + id }

// RawPrefix begins every RawKey.
const RawPrefix = "raw/"

// IsRawID says whether id is one RawID gives (64 lowercase hex digits).
func IsRawID(id string) bool {
	if len(id) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Raws stores raw message records.
type Raws interface {
	PutRaw(ctx context.Context, r RawMessage) (RawMessage, error)
	GetRaw(ctx context.Context, id string) (RawMessage, error)
	MarkRawDelivered(ctx context.Context, id string) error
}

const rawCols = `id, blob_key, size, delivered, created_at`

func scanRaw(r scanner) (RawMessage, error) {
	var m RawMessage
	err := r.Scan(&m.ID, &m.BlobKey, &m.Size, &m.Delivered, timeCol{&m.CreatedAt})
	return m, err
}

// PutRaw records a raw message; an empty ID gets a fresh one. It is
// idempotent on ID: when the record exists, it is returned unchanged.
func (s *SQL) PutRaw(ctx context.Context, r RawMessage) (RawMessage, error) {
	const op = "put raw message"
	if r.BlobKey == "" || r.Size < 0 {
		return RawMessage{}, invalid(op, "blob key and a size are required")
	}
	r.ID = orNewID(r.ID)
	r.CreatedAt = s.stamp()
	inserted, err := insertRaw(ctx, s.write(), r)
	if err != nil {
		return RawMessage{}, s.fail(op, err)
	}
	if inserted {
		return r, nil // the row is r as given
	}
	return s.GetRaw(ctx, r.ID) // it was there: return the stored one
}

// insertRaw inserts raw message record r unless its ID exists, and says
// whether it did.
func insertRaw(ctx context.Context, c conn, r RawMessage) (bool, error) {
	res, err := c.exec(ctx, `INSERT INTO raw_messages (`+rawCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, r.ID, r.BlobKey, r.Size, r.Delivered, micros(r.CreatedAt))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return err == nil && n == 1, nil
}

// sentRaw writes the raw record info names, when info carries one.
func (s *SQL) sentRaw(ctx context.Context, c conn, info *SentInfo) error {
	if info.Raw == nil {
		return nil
	}
	r := *info.Raw
	if r.ID == "" || r.BlobKey == "" || r.Size < 0 || (info.RawMsgID != "" && info.RawMsgID != r.ID) {
		return fmt.Errorf("%w: the sent copy's record needs an id (the raw message id), a blob key and a size", ErrInvalid)
	}
	info.RawMsgID = r.ID
	r.CreatedAt = s.stamp()
	_, err := insertRaw(ctx, c, r)
	return err
}

// GetRaw returns raw message id. It is a system read: users reach raw
// messages through Messages.MessageRaw.
func (s *SQL) GetRaw(ctx context.Context, id string) (RawMessage, error) {
	return first(ctx, s, "get raw message "+id, scanRaw,
		`SELECT `+rawCols+` FROM raw_messages WHERE id = ?`, id)
}

// MarkRawDelivered records that raw message id was processed for every
// recipient. Repeating it changes nothing.
func (s *SQL) MarkRawDelivered(ctx context.Context, id string) error {
	if err := s.write().one(ctx, `UPDATE raw_messages SET delivered = TRUE WHERE id = ?`, id); err != nil {
		return s.fail("mark raw message "+id+" delivered", err)
	}
	return nil
}

// ForgetRaw deletes the record of raw message id unless a message refers
// to it (as the raw message it was parsed from or sent as, or as the sent
// copy of a send attempt), and says whether none does: then the raw
// message's bytes may go too. An id without a record is forgotten as well.
func (s *SQL) ForgetRaw(ctx context.Context, id string) (bool, error) {
	var referenced bool
	err := s.tx(ctx, func(c conn) error {
		var n int
		if err := c.row(ctx, `SELECT COUNT(*) FROM messages WHERE raw_msg_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			if err := c.row(ctx, `SELECT COUNT(*) FROM messages WHERE send_raw_id = ? AND send_raw_id <> ''`, id).Scan(&n); err != nil {
				return err
			}
		}
		if referenced = n > 0; referenced {
			return nil
		}
		_, err := c.exec(ctx, `DELETE FROM raw_messages WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return false, s.fail("forget raw message "+id, err)
	}
	return !referenced, nil
}
