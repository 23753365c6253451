package contract

import (
	"context"
	"encoding/json"
	"errors"
)

// Codes of the functions' error replies. The functions that fail with them
// and the requesters that read them share these constants.
const (
	CodeTooLarge        = "too_large"        // the request body is over the function's limit
	CodeRawNotFound     = "raw_not_found"    // process_inbound: no raw message of that id
	CodeRawMissing      = "raw_missing"      // process_inbound: its bytes are not in the blob store
	CodeRawTooLarge     = "raw_too_large"    // process_inbound: the raw message is over the size limit
	CodeUnknownIdentity = "unknown_identity" // no such identity of the user
	CodeBadIdentity     = "bad_identity"     // the identity cannot serve the order
	CodeMIMERejected    = "mime_rejected"    // inbound-email: a MIME structure over the parser's limits
	CodeBadEvent        = "bad_event"        // inbound-twitter: the raw event is not a direct message event
	// deliver on a remote account (twitter-dm): what the remote service
	// refused, which sending the same draft again cannot change.
	CodeReauthRequired   = "reauth_required"      // the account's credentials were refused: authorize it again
	CodeRecipientRefused = "recipient_refuses_dm" // the recipient takes no direct messages from the account
	CodeUnknownRecipient = "unknown_recipient"    // no such user or conversation
	CodeSendRefused      = "send_refused"         // the service refused the message itself
)

// Codes a requester gives a request that got no usable reply.
const (
	CodeNoResponder = "no_responder"         // nothing serves the subject
	CodeNoReply     = "delivery_timeout"     // no reply before the requester's deadline
	CodeUnsent      = "delivery_unavailable" // the request could not be sent
)

// permanentCodes are the reply codes that the same order cannot outlive:
// the contract's validation codes and the functions' refusals of the
// order's content. raw_not_found and raw_missing are not among them: the
// requester stores the raw message before each attempt, so a retry can
// succeed.
var permanentCodes = map[string]bool{
	CodeInvalidJSON: true, CodeMissingField: true, CodeInvalidField: true, CodeUnknownOrder: true,
	CodeUnknownSubject: true, CodeTooLarge: true, CodeRawTooLarge: true, CodeUnknownIdentity: true,
	CodeBadIdentity: true, CodeMIMERejected: true, CodeBadEvent: true, CodeReauthRequired: true,
	CodeRecipientRefused: true, CodeUnknownRecipient: true, CodeSendRefused: true,
}

// PermanentCode says whether an error reply with code reports a failure
// that retrying the same order cannot fix. Any other code is temporary.
func PermanentCode(code string) bool { return permanentCodes[code] }

// ParseDeliverReply reads a DeliverReply (outboundSMTP, outboundIMAP,
// twitter_dm): a JSON object with a boolean "error".
func ParseDeliverReply(body []byte) (DeliverReply, error) {
	var r struct {
		Error   *bool  `json:"error"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Error == nil {
		return DeliverReply{}, errors.New(`not a deliver reply: want a JSON object with a boolean "error"`)
	}
	return DeliverReply{Error: *r.Error, Message: r.Message}, nil
}

// ParseInboundReply reads an InboundReply (inboundSMTP, inboundTwitter) and
// says whether it reports a failure: the "error" key is present. A success
// must carry message_id.
func ParseInboundReply(body []byte) (reply InboundReply, failed bool, err error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return InboundReply{}, false, errors.New("not an inbound reply: not a JSON object")
	}
	_ = json.Unmarshal(body, &reply) // a field of another type stays empty
	if _, failed := keys["error"]; failed {
		return reply, true, nil
	}
	if reply.MessageID == "" {
		return InboundReply{}, false, errors.New("inbound reply has neither error nor message_id")
	}
	return reply, false, nil
}

type correlationKey struct{}

// WithCorrelationID returns a context whose orders carry id in
// HeaderCorrelationID.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID is the correlation id ctx carries, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
