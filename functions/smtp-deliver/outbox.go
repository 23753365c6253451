package smtpdeliver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

// marker records that a message was (possibly) handed off: the sent copy
// it was sent as.
type marker struct {
	RawMsgID  string    `json:"raw_msg_id"`
	MessageID string    `json:"message_id"`
	Date      time.Time `json:"date"`
}

// rawSpace names the raw message ids of sent copies.
var rawSpace = uuid.MustParse("7b1d3a52-5c2e-4d8e-9a4f-2f4c1c7e0a11")

// markerKey is the blob key of the outbox marker of message id of user.
func markerKey(userID, id string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + id))
	return "outbox/" + hex.EncodeToString(sum[:]) + ".json"
}

// storeCopy stores the sent copy of m (blob and raw message record) and
// returns the marker naming it.
func (d *deliverer) storeCopy(ctx context.Context, m store.Message, b outbound.Built) (marker, error) {
	rawID := uuid.NewSHA1(rawSpace, fmt.Appendf(nil, "%s/%s/%d", m.UserID, m.ID, b.Date.Unix())).String()
	key := "sent/" + rawID + ".eml"
	if err := d.deps.Blobs.Put(ctx, key, bytes.NewReader(b.Raw), int64(len(b.Raw))); err != nil {
		return marker{}, blobErr("store the sent copy", err)
	}
	raw, err := d.deps.Store.PutRaw(ctx, store.RawMessage{ID: rawID, BlobKey: key, Size: int64(len(b.Raw)), Delivered: true})
	if err != nil {
		return marker{}, storeErr("record the sent copy", err, "")
	}
	return marker{RawMsgID: raw.ID, MessageID: b.MessageID, Date: b.Date}, nil
}

// writeMarker records that m is about to be handed off.
func (d *deliverer) writeMarker(ctx context.Context, m store.Message, mk marker) error {
	b, err := json.Marshal(mk)
	if err != nil {
		return fmt.Errorf("encode outbox marker: %w", err)
	}
	if err := d.deps.Blobs.Put(ctx, markerKey(m.UserID, m.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return blobErr("write the outbox marker", err)
	}
	return nil
}

// readMarker returns m's outbox marker, if a previous attempt left one.
func (d *deliverer) readMarker(ctx context.Context, m store.Message) (marker, bool, error) {
	r, err := d.deps.Blobs.Get(ctx, markerKey(m.UserID, m.ID))
	if errors.Is(err, blob.ErrNotFound) {
		return marker{}, false, nil
	}
	if err != nil {
		return marker{}, false, blobErr("read the outbox marker", err)
	}
	defer func() { _ = r.Close() }()
	b, err := io.ReadAll(io.LimitReader(r, 1<<16))
	if err != nil {
		return marker{}, false, blobErr("read the outbox marker", err)
	}
	var mk marker
	if err := json.Unmarshal(b, &mk); err != nil || mk.MessageID == "" {
		return marker{}, false, fnhttp.WithCode(faults.Perm(fmt.Errorf("outbox marker of message %s is corrupt", m.ID)),
			"corrupt_outbox")
	}
	return mk, true, nil
}
