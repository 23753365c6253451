package fnhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caliopen/functions/internal/contract"
)

// CodeTooLarge is the error code of a request body over Config.MaxBodyBytes.
const CodeTooLarge = contract.CodeTooLarge

// PubSubReply is the body answered to publish/subscribe orders. Nobody waits
// for it on NATS; the connector reads the status (ack, retry, dead-letter)
// and keeps the body with a dead-lettered order.
type PubSubReply struct {
	OK bool `json:"ok"`
	// Error is the error code on failure.
	Error   string `json:"error,omitempty"`
	Message string `json:"message"`
}

// WithCode attaches a stable error code to err, for the error reply and the
// Nats-Service-Error-Code header (for example "unknown_user"). The error's
// class (package faults) is unchanged. A nil err stays nil.
func WithCode(err error, code string) error {
	if err == nil {
		return nil
	}
	return &codedError{err: err, code: code}
}

type codedError struct {
	err  error
	code string
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithMessage sets the message of err's failure reply. Without it, a
// permanent error's reply says the outermost error's own words, not the
// causes it wraps (which go to the log only), and a temporary or throttled
// one a generic text; a core uses WithMessage when a cause is the caller's
// business, such as a remote server's refusal or unavailability. The
// error's class and code are unchanged. A nil err stays nil.
func WithMessage(err error, msg string) error {
	if err == nil {
		return nil
	}
	return &messageError{err: err, msg: msg}
}

type messageError struct {
	err error
	msg string
}

func (e *messageError) Error() string { return e.err.Error() }
func (e *messageError) Unwrap() error { return e.err }

// replyText is the message of a permanent error's reply: the one set with
// WithMessage, else the error's own words (ownText).
func replyText(err error) string {
	var m *messageError
	if errors.As(err, &m) {
		return m.msg
	}
	return ownText(err)
}

// codeOf returns the code attached with WithCode, or def.
func codeOf(err error, def string) string {
	var c *codedError
	if errors.As(err, &c) && c.code != "" {
		return c.code
	}
	return def
}

// shape is the form of the answer to one order.
type shape struct {
	pubsub bool               // PubSubReply
	kind   contract.ReplyKind // else the contract's reply shape
}

// shapeOf picks the answer's form: the order's mode when the order is known;
// else the subject's reply shape when some order of it is request/reply
// (a requester may be waiting); else PubSubReply.
func shapeOf(s *contract.Subject, o *contract.Order) shape {
	switch {
	case o != nil:
		return shape{pubsub: o.Mode == contract.PubSub, kind: o.Reply}
	case s != nil && s.HasRequests():
		return shape{kind: s.Reply()}
	case s != nil:
		return shape{pubsub: true}
	}
	return shape{kind: contract.NoReply}
}

// answer is one HTTP response of the adapter.
type answer struct {
	status int
	body   []byte
	code   string // error code; empty on success
	msg    string // error message; empty on success
}

// fail answers a failure in the given shape.
func (sh shape) fail(status int, code, msg string) answer {
	var body []byte
	if sh.pubsub {
		body, _ = json.Marshal(PubSubReply{Error: code, Message: msg}) // cannot fail: strings
	} else {
		body = contract.ErrorReply(sh.kind, code, msg)
	}
	return answer{status: status, body: body, code: code, msg: msg}
}

// success encodes a core's result for an order, or explains why it cannot.
func success(o *contract.Order, res Result) (answer, error) {
	msg := res.Message
	if msg == "" {
		msg = "ok"
	}
	reply := res.Reply
	if reply == nil {
		switch {
		case o.Mode == contract.PubSub:
			reply = PubSubReply{OK: true, Message: msg}
		case o.Reply == contract.ReplyDeliver:
			reply = contract.DeliverReply{Error: false, Message: msg}
		default:
			return answer{}, fmt.Errorf("order %s wants a %s and the core gave none", o.Name, o.Reply)
		}
	}
	body, err := json.Marshal(reply)
	if err != nil {
		return answer{}, fmt.Errorf("encode reply: %w", err)
	}
	if o.Mode == contract.RequestReply {
		if _, err := contract.CheckReply(o.Reply, body); err != nil {
			return answer{}, fmt.Errorf("reply to %s is not a %s: %w", o.Name, o.Reply, err)
		}
	}
	return answer{status: http.StatusOK, body: body}, nil
}

// headerText makes msg fit one header line: control characters become
// spaces and it is cut at 256 bytes.
func headerText(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 256 {
		msg = strings.ToValidUTF8(msg[:256], "")
	}
	return msg
}
