// Package emit sends Caliopen orders on NATS as the seed's emitters do: the
// payload is the contract's JSON, byte for byte, with no envelope.
//
// Publish/subscribe orders go to subjects that the connector's stream
// captures, so Publish waits for the stream's acknowledgement and retries
// with backoff until the context ends: an order acknowledged is stored, an
// order not acknowledged is reported to the caller, never silently dropped.
// Each logical publish carries one Nats-Msg-Id, so a retry after a lost
// acknowledgement is not stored twice.
//
// Request/reply orders use a core NATS request. Deliver, ProcessInbound and
// Submit send them typed and classify the outcome once: a reply, or a
// *RequestError that says whether a retry may succeed. Every order carries
// the correlation id of its context and every request the time its
// requester still waits, so nested requests keep both.
package emit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// Emitter publishes and requests orders.
type Emitter struct {
	nc *nats.Conn
	js jetstream.JetStream
	// RetryBase is the first retry delay of Publish (default 100ms), doubled
	// up to 2s between attempts.
	RetryBase time.Duration
}

// New returns an emitter on an established connection.
func New(nc *nats.Conn) (*Emitter, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("emit: %w", err)
	}
	return &Emitter{nc: nc, js: js, RetryBase: 100 * time.Millisecond}, nil
}

// header is the header of an order sent within ctx: its correlation id
// (a new one when ctx has none) and its trace context.
func header(ctx context.Context) nats.Header {
	id := contract.CorrelationID(ctx)
	if id == "" {
		id = nuid.Next()
	}
	h := nats.Header{contract.HeaderCorrelationID: []string{id}}
	tracing.Inject(ctx, h)
	return h
}

// Publish sends a publish/subscribe order and returns once the stream has
// acknowledged it. It retries until ctx ends; the error then is temporary.
func (e *Emitter) Publish(ctx context.Context, subject string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return faults.Perm(fmt.Errorf("encode %s order: %w", subject, err))
	}
	ctx, span := tracing.Start(ctx, "publish "+subject, trace.SpanKindProducer)
	err = e.publish(ctx, &nats.Msg{Subject: subject, Data: data, Header: header(ctx)}, nuid.Next())
	tracing.End(span, err)
	return err
}

// Order returns the outbox row of a publish/subscribe order: the payload as
// Publish sends it, the correlation id of ctx, and a fresh id that becomes
// its Nats-Msg-Id.
func Order(ctx context.Context, subject string, payload any) (store.Order, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return store.Order{}, faults.Perm(fmt.Errorf("encode %s order: %w", subject, err))
	}
	h := header(ctx)
	row := make(map[string]string, len(h))
	for k, v := range h {
		row[k] = v[0]
	}
	return store.Order{ID: nuid.Next(), Subject: subject, Data: data, Header: row}, nil
}

// PublishOrder publishes an order of the outbox with its id as Nats-Msg-Id,
// so that publishing it again after a crash (within the stream's duplicate
// window) stores it once. It retries as Publish does.
func (e *Emitter) PublishOrder(ctx context.Context, o store.Order) error {
	h := make(nats.Header, len(o.Header))
	for k, v := range o.Header {
		h.Set(k, v)
	}
	return e.publish(ctx, &nats.Msg{Subject: o.Subject, Data: o.Data, Header: h}, o.ID)
}

// publish sends msg under msgID until the stream acknowledges it or ctx
// ends.
func (e *Emitter) publish(ctx context.Context, msg *nats.Msg, msgID string) error {
	delay := e.RetryBase
	for attempt := 1; ; attempt++ {
		_, err := e.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return faults.Temp(fmt.Errorf("publish %s: not acknowledged after %d attempts: %w", msg.Subject, attempt, err))
		}
		select {
		case <-ctx.Done():
			return faults.Temp(fmt.Errorf("publish %s: not acknowledged after %d attempts: %w", msg.Subject, attempt, err))
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// Request sends a request/reply order and returns the reply body. The
// deadline is ctx's, stated to the connector in HeaderTimeout. No
// responder, a timeout and a failed send are temporary *RequestErrors.
func (e *Emitter) Request(ctx context.Context, subject string, payload any) ([]byte, error) {
	body, _, err := e.RequestCode(ctx, subject, payload)
	return body, err
}

// RequestCode is Request that also returns the reply's error code (the
// header HeaderServiceErrorCode; "" on success).
func (e *Emitter) RequestCode(ctx context.Context, subject string, payload any) ([]byte, string, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, "", faults.Perm(fmt.Errorf("encode %s order: %w", subject, err))
	}
	ctx, span := tracing.Start(ctx, "request "+subject, trace.SpanKindClient)
	defer span.End()
	h := header(ctx)
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left > 0 {
			h[contract.HeaderTimeout] = []string{left.Round(time.Millisecond).String()}
		}
	}
	reply, err := e.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Data: data, Header: h})
	if err != nil {
		err = transportError(subject, err)
		tracing.End(span, err)
		return nil, "", err
	}
	code := reply.Header.Get(contract.HeaderServiceErrorCode)
	if code != "" && span.IsRecording() {
		span.SetAttributes(attribute.String("caliopen.error_code", code))
	}
	return reply.Data, code, nil
}
