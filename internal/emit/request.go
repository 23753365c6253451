package emit

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

// Requester sends a request/reply order and returns the reply body;
// *Emitter is one.
type Requester interface {
	Request(ctx context.Context, subject string, payload any) ([]byte, error)
}

// CodedRequester is a Requester that also returns the error code of a
// failure reply (the header contract.HeaderServiceErrorCode, "" on
// success); *Emitter is one. Deliver reads the code there, since the
// deliver reply's body has none.
type CodedRequester interface {
	RequestCode(ctx context.Context, subject string, payload any) ([]byte, string, error)
}

// RequestError is a request that did not succeed: no usable reply, or a
// reply that reports a failure.
type RequestError struct {
	Subject string
	// Code is the reply's error code when a function answered (Replied),
	// else contract.CodeNoResponder, CodeNoReply, CodeUnsent or CodeBadReply.
	Code string
	// Message is the reply's message.
	Message string
	// Replied says that the order reached a function, which answered.
	Replied bool
	// Class says whether the same order may succeed later.
	Class faults.Class
	Err   error
}

func (e *RequestError) Error() string {
	switch {
	case e.Replied && e.Message != "":
		return fmt.Sprintf("%s replied %s: %s", e.Subject, e.Code, e.Message)
	case e.Replied:
		return fmt.Sprintf("%s replied %s", e.Subject, e.Code)
	case e.Err != nil:
		return fmt.Sprintf("request %s: %s: %v", e.Subject, e.Code, e.Err)
	}
	return fmt.Sprintf("request %s: %s", e.Subject, e.Code)
}

func (e *RequestError) Unwrap() error { return e.Err }

// Permanent says whether retrying the same order cannot succeed (package
// faults reads it).
func (e *RequestError) Permanent() bool { return e.Class == faults.Permanent }

// CodeOf is the code of err's *RequestError, or "".
func CodeOf(err error) string {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

// transportError classifies a request that got no reply.
func transportError(subject string, err error) error {
	code := contract.CodeUnsent
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		code = contract.CodeNoResponder
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		code = contract.CodeNoReply
	}
	return &RequestError{Subject: subject, Code: code, Class: faults.Temporary, Err: err}
}

// asRequestError makes a transport failure of a Requester that is not an
// *Emitter a *RequestError too.
func asRequestError(subject string, err error) error {
	var re *RequestError
	if errors.As(err, &re) || faults.IsPermanent(err) {
		return err
	}
	return transportError(subject, err)
}

func badReply(subject string, err error) error {
	return &RequestError{Subject: subject, Code: contract.CodeBadReply, Class: faults.Temporary, Err: err}
}

// Deliver sends deliver (outboundSMTP, outboundIMAP, twitter_dm) and
// returns the reply. A reply {"error":true} comes back with a
// *RequestError (Replied): the message was not sent. Its code is the
// function's (when r is a CodedRequester), else contract.CodeFailed, and
// its class follows the code (contract.PermanentCode).
func Deliver(ctx context.Context, r Requester, subject string, o contract.DeliverOrder) (contract.DeliverReply, error) {
	o.Order = contract.OrderDeliver
	var (
		body []byte
		code string
		err  error
	)
	if cr, ok := r.(CodedRequester); ok {
		body, code, err = cr.RequestCode(ctx, subject, o)
	} else {
		body, err = r.Request(ctx, subject, o)
	}
	if err != nil {
		return contract.DeliverReply{}, asRequestError(subject, err)
	}
	rep, err := contract.ParseDeliverReply(body)
	if err != nil {
		return contract.DeliverReply{}, badReply(subject, err)
	}
	if rep.Error {
		if code == "" {
			code = contract.CodeFailed
		}
		class := faults.Temporary
		if contract.PermanentCode(code) {
			class = faults.Permanent
		}
		return rep, &RequestError{Subject: subject, Code: code, Message: rep.Message, Replied: true, Class: class}
	}
	return rep, nil
}

// ProcessInbound sends process_inbound (inboundSMTP, inboundTwitter) and
// returns the reply. An error reply comes back with a *RequestError
// (Replied) whose class follows its code (contract.PermanentCode).
func ProcessInbound(ctx context.Context, r Requester, subject string, o contract.DeliverOrder) (contract.InboundReply, error) {
	o.Order = contract.OrderProcessInbound
	body, err := r.Request(ctx, subject, o)
	if err != nil {
		return contract.InboundReply{}, asRequestError(subject, err)
	}
	rep, failed, err := contract.ParseInboundReply(body)
	if err != nil {
		return contract.InboundReply{}, badReply(subject, err)
	}
	if failed {
		class := faults.Temporary
		if contract.PermanentCode(rep.Error) {
			class = faults.Permanent
		}
		return rep, &RequestError{Subject: subject, Code: rep.Error, Message: rep.Message, Replied: true, Class: class}
	}
	return rep, nil
}

// Submit sends a publish/subscribe order as a request on a subject that
// also carries requests (sync on twitter_dm): the connector hands it off to
// its stream and answers {"error":false,"message":"accepted"}. Any other
// answer is a temporary *RequestError.
func Submit(ctx context.Context, r Requester, subject string, o contract.RemoteOrder) error {
	body, err := r.Request(ctx, subject, o)
	if err != nil {
		return asRequestError(subject, err)
	}
	rep, err := contract.ParseDeliverReply(body)
	if err != nil {
		return badReply(subject, err)
	}
	if rep.Error {
		return &RequestError{Subject: subject, Code: contract.CodeFailed, Message: rep.Message, Replied: true,
			Class: faults.Temporary}
	}
	return nil
}
