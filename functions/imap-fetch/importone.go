package imapfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
)

// rejectedCodes are the process_inbound error codes that no retry can
// change: the contract's validation codes and inbound-email's permanent
// ones. A message refused with one counts as processed.
var rejectedCodes = map[string]bool{
	contract.CodeInvalidJSON: true, contract.CodeMissingField: true, contract.CodeInvalidField: true,
	"too_large": true, "raw_too_large": true, "mime_rejected": true,
}

// importOne stores raw once (id = SHA-256 of the bytes, as the SMTP
// listener does) and requests process_inbound for the identity. A nil
// error means processed; the reply's MessageID is set when the message is
// new to the user (not a duplicate, not rejected). The raw message's
// record is left to inbound-email, which writes it in the message's
// transaction (the key follows from the id), so that it costs no store
// write of its own (docs/benchmarks.md, "IMAP sync"). It is not marked
// delivered: the identity's cursor records what was processed. A message
// rejected for good counts as processed too: the reply then carries only
// its Error code.
func (f *fetcher) importOne(ctx context.Context, ident store.Identity, raw []byte, log *slog.Logger) (contract.InboundReply, error) {
	id := store.RawID(raw)
	if err := f.deps.Blobs.Put(ctx, store.RawKey(id), bytes.NewReader(raw), int64(len(raw))); err != nil {
		return contract.InboundReply{}, fmt.Errorf("store raw message %s: %w", id, err)
	}
	pctx, cancel := context.WithTimeout(ctx, f.cfg.ProcessTimeout)
	defer cancel()
	order := contract.DeliverOrder{MessageID: id, Order: contract.OrderProcessInbound, RemoteID: ident.ID, UserID: ident.UserID}
	body, err := f.deps.Emitter.Request(pctx, contract.SubjectInboundSMTP, order)
	if err != nil {
		return contract.InboundReply{}, fmt.Errorf("process_inbound of %s: %w", id, err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return contract.InboundReply{}, fmt.Errorf("process_inbound reply for %s is not JSON", id)
	}
	var reply contract.InboundReply
	_ = json.Unmarshal(body, &reply) // a non-string field leaves it empty
	if _, failed := keys["error"]; failed {
		if rejectedCodes[reply.Error] {
			log.Warn("message rejected by inbound-email, not retried", "raw_id", id, "outcome", "rejected", "err", reply.Error)
			return contract.InboundReply{Error: reply.Error}, nil
		}
		return contract.InboundReply{}, fmt.Errorf("process_inbound of %s failed: %s: %s", id, reply.Error, reply.Message)
	}
	if reply.MessageID == "" {
		return contract.InboundReply{}, errors.New("process_inbound reply for " + id + " has no message_id")
	}
	if reply.Message == contract.InboundDuplicate {
		reply.MessageID = "" // not new: no notification
	}
	return reply, nil
}
