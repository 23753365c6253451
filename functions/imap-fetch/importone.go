package imapfetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/store"
)

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
