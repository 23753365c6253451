// Package processinbound sends process_inbound on inboundSMTP for one
// recipient identity of a stored raw message, as every sender of received
// e-mail does (the SMTP listener, smtp-deliver for hosted recipients), and
// classifies the answer once: delivered, temporary (retrying may help) or
// permanent (the mail is refused for that recipient).
//
// Failure semantics: no responder, a timeout, a reply that is not the
// contract's shape and an error reply with a code outside PermanentCodes
// are temporary; an error reply with one of PermanentCodes is permanent and
// keeps inbound-email's code and message in Result.Reply.
package processinbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/store"
)

// Requester sends a request/reply order and returns the reply body
// (*emit.Emitter); its errors are classified (faults).
type Requester interface {
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
}

// Outcome is what became of the mail for one recipient identity.
type Outcome int

// The outcomes, from best to worst.
const (
	Delivered Outcome = iota // stored, or found already stored
	Temporary                // not stored; a retry may store it
	Permanent                // refused; no retry changes that
)

func (o Outcome) String() string {
	return [...]string{"delivered", "temporary", "permanent"}[o]
}

// PermanentCodes are the error codes of replies that retrying cannot fix:
// the contract's validation codes and inbound-email's permanent ones.
var PermanentCodes = map[string]bool{
	contract.CodeInvalidJSON: true, contract.CodeMissingField: true, contract.CodeInvalidField: true,
	contract.CodeUnknownOrder: true, contract.CodeUnknownSubject: true, "too_large": true,
	"raw_not_found": true, "raw_missing": true, "raw_too_large": true, "unknown_identity": true, "bad_identity": true,
	"mime_rejected": true,
}

// Result is the classified answer for one identity.
type Result struct {
	Outcome Outcome
	// Reply is inbound-email's reply when there was one: message_id on
	// success, the error code and message on a refusal.
	Reply contract.InboundReply
}

// Request sends process_inbound for raw message rawID (stored under
// store.RawKey(rawID) or recorded) and identity idn, within ctx's deadline.
// The error, set unless the outcome is Delivered, says what went wrong.
func Request(ctx context.Context, r Requester, rawID string, idn store.Identity) (Result, error) {
	order := contract.DeliverOrder{MessageID: rawID, Order: contract.OrderProcessInbound, RemoteID: idn.ID, UserID: idn.UserID}
	body, err := r.Request(ctx, contract.SubjectInboundSMTP, order)
	if err != nil {
		if faults.IsPermanent(err) {
			return Result{Outcome: Permanent}, err
		}
		return Result{Outcome: Temporary}, err
	}
	var reply contract.InboundReply
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return Result{Outcome: Temporary}, fmt.Errorf("process_inbound reply: %w", err)
	}
	_ = json.Unmarshal(body, &reply) // a non-string field leaves it empty
	if _, failed := keys["error"]; !failed {
		if reply.MessageID == "" {
			return Result{Outcome: Temporary, Reply: reply}, errors.New("process_inbound reply has no message_id")
		}
		return Result{Outcome: Delivered, Reply: reply}, nil
	}
	err = fmt.Errorf("process_inbound failed: %s: %s", reply.Error, reply.Message)
	if PermanentCodes[reply.Error] {
		return Result{Outcome: Permanent, Reply: reply}, err
	}
	return Result{Outcome: Temporary, Reply: reply}, err
}
