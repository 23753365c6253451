package imapfetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/emersion/go-imap/v2"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/store"
)

// fetched is one message read from the server, with its raw id (SHA-256
// of the bytes, as the SMTP listener's).
type fetched struct {
	uid imap.UID
	id  string
	raw []byte
}

// storeRaws stores a chunk of fetched messages' bytes at once (one
// durability barrier for the chunk, blob.PutAll): when it returns nil each
// is as durable as one Put makes it, before any of them is processed. On
// an error none of the chunk is processed (the cursor stays below it).
func (f *fetcher) storeRaws(ctx context.Context, chunk []fetched) error {
	objs := make([]blob.Object, 0, len(chunk))
	seen := make(map[string]bool, len(chunk))
	for _, m := range chunk {
		if !seen[m.id] { // the same bytes twice in a mailbox: one object
			seen[m.id] = true
			objs = append(objs, blob.Object{Key: store.RawKey(m.id), Data: m.raw})
		}
	}
	if err := blob.PutAll(ctx, f.deps.Blobs, objs); err != nil {
		return fmt.Errorf("store %d raw messages: %w", len(objs), err)
	}
	return nil
}

// processOne requests process_inbound of stored raw message id for the
// identity. A nil error means processed; the reply's MessageID is set when
// the message is new to the user (not a duplicate, not rejected). The raw
// message's record is left to inbound-email, which writes it in the
// message's transaction (the key follows from the id), so that it costs no
// store write of its own (docs/benchmarks.md, "IMAP sync"). It is not
// marked delivered: the identity's cursor records what was processed. A
// message rejected for good counts as processed too: the reply then
// carries only its Error code.
func (f *fetcher) processOne(ctx context.Context, ident store.Identity, id string, log *slog.Logger) (contract.InboundReply, error) {
	pctx, cancel := context.WithTimeout(ctx, f.cfg.ProcessTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: id, Order: contract.OrderProcessInbound, RemoteID: ident.ID, UserID: ident.UserID}
	reply, err := emit.ProcessInbound(pctx, f.deps.Emitter, contract.SubjectInboundSMTP, order)
	if err != nil {
		var re *emit.RequestError
		if errors.As(err, &re) && re.Replied && re.Permanent() {
			log.Warn("message rejected by inbound-email, not retried", "raw_id", id, "outcome", "rejected", "err", re.Code)
			return contract.InboundReply{Error: re.Code}, nil
		}
		return contract.InboundReply{}, fmt.Errorf("process_inbound of %s: %w", id, err)
	}
	if reply.Message == contract.InboundDuplicate {
		reply.MessageID = "" // not new: no notification
	}
	return reply, nil
}
