package smtpdeliver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

// marker names the sent copy a message was (possibly) handed off as.
type marker struct {
	RawMsgID  string
	MessageID string
	Date      time.Time
	// raw is the sent copy's record; MarkSent writes it.
	raw *store.RawMessage
	// data are the sent copy's bytes.
	data []byte
}

// info is what the store records of mk.
func (mk marker) info() store.SentInfo {
	return store.SentInfo{MessageID: mk.MessageID, RawMsgID: mk.RawMsgID, Date: mk.Date, Raw: mk.raw}
}

// copyKey is the blob key of the sent copy with raw message id rawID.
func copyKey(rawID string) string { return "sent/" + rawID + ".eml" }

// storeCopy stores b, the message of attempt a, as its sent copy in the
// blob store and returns the marker naming it.
func (d *deliverer) storeCopy(ctx context.Context, a store.SendAttempt, b outbound.Built) (marker, error) {
	key := copyKey(a.RawMsgID)
	if err := d.deps.Blobs.Put(ctx, key, bytes.NewReader(b.Raw), int64(len(b.Raw))); err != nil {
		return marker{}, blobErr("store the sent copy", err)
	}
	return marker{RawMsgID: a.RawMsgID, MessageID: b.MessageID, Date: a.Date, data: b.Raw,
		raw: &store.RawMessage{ID: a.RawMsgID, BlobKey: key, Size: int64(len(b.Raw)), Delivered: true}}, nil
}

// storedCopy returns the marker of attempt a's sent copy when that copy was
// stored, and false when it was not. The Message-ID is the copy's own.
func (d *deliverer) storedCopy(ctx context.Context, a store.SendAttempt) (marker, bool, error) {
	key := copyKey(a.RawMsgID)
	info, err := d.deps.Blobs.Stat(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return marker{}, false, nil
	}
	if err != nil {
		return marker{}, false, blobErr("look for an earlier attempt's sent copy", err)
	}
	rc, err := d.deps.Blobs.Get(ctx, key)
	if err != nil {
		return marker{}, false, blobErr("read an earlier attempt's sent copy", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return marker{}, false, blobErr("read an earlier attempt's sent copy", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return marker{}, false, blobErr("read an earlier attempt's sent copy", err)
	}
	id := strings.Trim(strings.TrimSpace(msg.Header.Get("Message-ID")), "<>")
	return marker{RawMsgID: a.RawMsgID, MessageID: id, Date: a.Date, data: data,
		raw: &store.RawMessage{ID: a.RawMsgID, BlobKey: key, Size: info.Size, Delivered: true}}, true, nil
}
