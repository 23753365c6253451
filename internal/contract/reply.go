package contract

import (
	"encoding/json"
	"errors"
)

// Codes used in error replies beside the validation codes.
const (
	CodeNoFunction = "no_function"    // no function serves the subject yet
	CodeTimeout    = "timeout"        // the function did not answer in time
	CodeFailed     = "function_error" // the function failed
	CodeOverloaded = "overloaded"     // too many orders in flight
	CodeBadReply   = "bad_reply"      // the function's reply does not fit the contract
)

// ErrorReply encodes an error reply of the given shape. For ReplyDeliver the
// code is not part of the body (the original shape has two keys); callers carry
// it in a header. For NoReply it returns a DeliverReply-shaped body, the
// closest thing the seed has to a generic answer.
func ErrorReply(kind ReplyKind, code, message string) []byte {
	var v any
	switch kind {
	case ReplyInbound:
		v = InboundReply{Error: code, Message: message}
	default:
		v = DeliverReply{Error: true, Message: message}
	}
	b, _ := json.Marshal(v) // cannot fail: plain structs of strings
	return b
}

// CheckReply says whether body is a well-formed reply of the given shape and,
// if so, whether it reports a failure.
func CheckReply(kind ReplyKind, body []byte) (failed bool, err error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return false, errors.New("reply is not a JSON object")
	}
	switch kind {
	case ReplyDeliver:
		var r struct {
			Error *bool `json:"error"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.Error == nil {
			return false, errors.New(`reply lacks a boolean "error"`)
		}
		return *r.Error, nil
	case ReplyInbound:
		raw, ok := fields["error"]
		if !ok {
			if _, ok := fields["message_id"]; !ok {
				return false, errors.New(`reply has neither "error" nor "message_id"`)
			}
			return false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return false, errors.New(`reply "error" is not a string`)
		}
		return true, nil
	default:
		return false, nil
	}
}

func asErr[T any](err error, target *T) bool { return errors.As(err, target) }

// OKReply encodes a success reply without a result of its own (an
// accepted order). For ReplyInbound, which needs a message id, it is only a
// message.
func OKReply(kind ReplyKind, message string) []byte {
	var v any
	switch kind {
	case ReplyInbound:
		v = InboundReply{Message: message}
	default:
		v = DeliverReply{Error: false, Message: message}
	}
	b, _ := json.Marshal(v)
	return b
}
