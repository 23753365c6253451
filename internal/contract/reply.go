package contract

import (
	"bytes"
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
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return false, errors.New("reply is not a JSON object")
	}
	var r struct {
		Error     json.RawMessage `json:"error"`
		MessageID json.RawMessage `json:"message_id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return false, errors.New("reply is not a JSON object")
	}
	switch kind {
	case ReplyDeliver:
		switch string(r.Error) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, errors.New(`reply lacks a boolean "error"`)
	case ReplyInbound:
		if len(r.Error) == 0 {
			if len(r.MessageID) == 0 {
				return false, errors.New(`reply has neither "error" nor "message_id"`)
			}
			return false, nil
		}
		if _, ok := unquote(r.Error); !ok {
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
