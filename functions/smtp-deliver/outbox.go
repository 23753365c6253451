package smtpdeliver

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/store"
)

// marker records that a message was (possibly) handed off: the sent copy
// it was sent as.
type marker struct {
	RawMsgID  string
	MessageID string
	Date      time.Time
	// raw is the sent copy's record while not yet in the store: the
	// hand-off record (or MarkSent, without one) writes it.
	raw *store.RawMessage
}

// info is what the store records of mk.
func (mk marker) info() store.SentInfo {
	return store.SentInfo{MessageID: mk.MessageID, RawMsgID: mk.RawMsgID, Date: mk.Date, Raw: mk.raw}
}

// rawSpace names the raw message ids of sent copies.
var rawSpace = uuid.MustParse("7b1d3a52-5c2e-4d8e-9a4f-2f4c1c7e0a11")

// storeCopy stores the sent copy of m in the blob store and returns the
// marker naming it; its record is written with the hand-off (or MarkSent).
func (d *deliverer) storeCopy(ctx context.Context, m store.Message, b outbound.Built) (marker, error) {
	rawID := uuid.NewSHA1(rawSpace, fmt.Appendf(nil, "%s/%s/%d", m.UserID, m.ID, b.Date.Unix())).String()
	key := "sent/" + rawID + ".eml"
	if err := d.deps.Blobs.Put(ctx, key, bytes.NewReader(b.Raw), int64(len(b.Raw))); err != nil {
		return marker{}, blobErr("store the sent copy", err)
	}
	return marker{RawMsgID: rawID, MessageID: b.MessageID, Date: b.Date,
		raw: &store.RawMessage{ID: rawID, BlobKey: key, Size: int64(len(b.Raw)), Delivered: true}}, nil
}

// writeMarker records on the draft, in the store, that m is about to be
// handed off as the copy mk names, with that copy's record. It returns
// the marker as recorded.
func (d *deliverer) writeMarker(ctx context.Context, m store.Message, mk marker) (marker, error) {
	if err := d.deps.Store.RecordHandoff(ctx, m.UserID, m.ID, mk.info()); err != nil {
		return mk, storeErr("record the hand-off", err, "")
	}
	mk.raw = nil
	return mk, nil
}

// readMarker returns the hand-off a previous attempt recorded on m, if any.
func (d *deliverer) readMarker(_ context.Context, m store.Message) (marker, bool, error) {
	info, ok := store.HandedOff(m)
	if !ok {
		return marker{}, false, nil
	}
	return marker{RawMsgID: info.RawMsgID, MessageID: info.MessageID, Date: info.Date}, true, nil
}
