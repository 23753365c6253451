package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/tracing"
)

// onCore handles the core queue subscription of a subject that carries
// requests. Messages with an inbox are requests; the others are events,
// handed off into the stream.
func (c *Connector) onCore(s *contract.Subject) nats.MsgHandler {
	return func(m *nats.Msg) {
		if !isInbox(m.Reply) {
			c.handoff(s, m)
			return
		}
		if c.pending.Add(1) > int64(c.cfg.MaxPending) {
			c.pending.Add(-1)
			c.metrics.messages.WithLabelValues(s.Name, "request", contract.CodeOverloaded).Inc()
			c.respondError(s, m, correlationID(m.Header), contract.CodeOverloaded, "too many requests in flight, retry later")
			return
		}
		c.inflight.Add(1)
		c.pool.Go(func() {
			defer c.inflight.Done()
			defer c.pending.Add(-1)
			c.handleRequest(s, m)
		})
	}
}

// requestTimeout is how long the connector may spend on a request: the
// shorter of the contract's deadline and the requester's stated timeout,
// less the reply margin.
func (c *Connector) requestTimeout(s *contract.Subject, h nats.Header) time.Duration {
	d := s.Deadline
	if v := h.Get(HeaderTimeout); v != "" {
		if t, err := time.ParseDuration(v); err == nil && t > 0 && t < d {
			d = t
		}
	}
	margin := c.cfg.ReplyMargin
	if margin > d/5 {
		margin = d / 5
	}
	return d - margin
}

func (c *Connector) handleRequest(s *contract.Subject, m *nats.Msg) {
	start := time.Now()
	corr := correlationID(m.Header)
	// The request's logger is made only when a line is written: an
	// answered request writes none at the default level.
	log := func() *slog.Logger { return c.log.With("subject", s.Name, "corr_id", corr) }
	ctx, cancel := context.WithTimeout(c.work, c.requestTimeout(s, m.Header))
	defer cancel()
	ctx, span, traceHdr := c.traced(ctx, m.Header, "connector "+s.Name, traceKindServer,
		attribute.String("messaging.destination.name", s.Name), attribute.String("caliopen.correlation_id", corr))
	defer span.End()

	req, err := s.Decode(m.Data)
	if err != nil {
		var ve *contract.ValidationError
		code, text := contract.CodeInvalidJSON, "unreadable order"
		if errors.As(err, &ve) {
			code, text = ve.Code, ve.Public()
		}
		log().Info("request refused", "outcome", code, "err", text)
		c.metrics.messages.WithLabelValues(s.Name, "request", code).Inc()
		c.respondError(s, m, corr, code, text)
		return
	}
	if req.Order.Mode == contract.PubSub {
		// A publish/subscribe order sent as a request (twitter_dm sync): it
		// goes through the stream like any event, and the requester learns
		// that it was accepted.
		if err := c.handoffMsg(ctx, s, m, corr); err != nil {
			log().Error("hand-off failed", "err", err)
			c.respondError(s, m, corr, contract.CodeFailed, "order not accepted, retry later")
			return
		}
		c.respond(s, m, contract.OKReply(s.Reply(), "accepted"), nil)
		c.metrics.messages.WithLabelValues(s.Name, "request", "accepted").Inc()
		return
	}
	targets := c.router.Match(s.Name)
	if len(targets) == 0 {
		log().Warn("no function serves the subject", "outcome", contract.CodeNoFunction)
		c.metrics.messages.WithLabelValues(s.Name, "request", contract.CodeNoFunction).Inc()
		c.respondError(s, m, corr, contract.CodeNoFunction, fmt.Sprintf("no function serves %s yet", s.Name))
		return
	}
	t := targets[0] // one responder per request
	release, err := c.invoker.Acquire(ctx, t.Name)
	if err != nil {
		log().Warn("no free slot before the deadline", append(fnKeys(t.Name), "outcome", contract.CodeOverloaded)...)
		c.metrics.messages.WithLabelValues(s.Name, "request", contract.CodeOverloaded).Inc()
		c.respondError(s, m, corr, contract.CodeOverloaded, fmt.Sprintf("function %s is busy, retry later", t.Name))
		return
	}
	deadline, _ := ctx.Deadline()
	resp := c.invoker.Invoke(ctx, t, &Invocation{
		Subject: s.Name, Queue: s.Queue, Order: req.Order.Name, EventID: nuid.Next(),
		CorrelationID: corr, Attempt: 1, Deadline: deadline, Reply: true, Body: m.Data,
		Trace: traceHdr,
	})
	release()
	body, hdr, outcome := c.replyFor(s, t, resp)
	c.respond(s, m, body, hdr)
	if outcome != "ok" && span.IsRecording() {
		span.SetStatus(codes.Error, outcome)
	}
	c.metrics.messages.WithLabelValues(s.Name, "request", outcome).Inc()
	// Answered requests are logged at debug level (the function logs each
	// invocation itself); failures at warn.
	level := slog.LevelDebug
	if outcome != "ok" {
		level = slog.LevelWarn
	}
	if !c.log.Enabled(ctx, level) {
		return
	}
	attrs := append([]any{"order", req.Order.Name, "user_id", userID(req)}, fnKeys(t.Name)...)
	attrs = append(attrs, "status", resp.Status, "outcome", outcome, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	if resp.Err != nil {
		attrs = append(attrs, "err", resp.Err)
	}
	log().Log(ctx, level, "request answered", attrs...)
}

// replyFor turns a function's answer into the reply body and headers. A
// well-formed reply of the contract's shape passes through unchanged, even
// with an error status; anything else becomes an error reply that says what
// went wrong.
func (c *Connector) replyFor(s *contract.Subject, t Target, r Response) ([]byte, nats.Header, string) {
	kind := s.Reply()
	fail := func(code, msg string) ([]byte, nats.Header, string) {
		return contract.ErrorReply(kind, code, msg), errorHeader(code, msg), code
	}
	switch {
	case r.Err != nil && r.TimedOut():
		return fail(contract.CodeTimeout, fmt.Sprintf("function %s did not answer in time", t.Name))
	case r.Err != nil:
		return fail(contract.CodeFailed, fmt.Sprintf("function %s could not be reached", t.Name))
	}
	failed, shapeErr := contract.CheckReply(kind, r.Body)
	ok2xx := r.Status >= 200 && r.Status < 300
	switch {
	case shapeErr == nil && ok2xx && !failed:
		return r.Body, nil, "ok"
	case shapeErr == nil && (failed || !ok2xx):
		code, msg := r.Problem(t.Name)
		return r.Body, errorHeader(code, msg), code
	case r.Status == http.StatusNotFound:
		return fail(contract.CodeNoFunction, fmt.Sprintf("function %s not found", t.Name))
	case ok2xx:
		return fail(contract.CodeBadReply, fmt.Sprintf("function %s answered a malformed reply", t.Name))
	default:
		return fail(contract.CodeFailed, fmt.Sprintf("function %s failed with status %d", t.Name, r.Status))
	}
}

func errorHeader(code, msg string) nats.Header {
	h := nats.Header{}
	h.Set(HeaderServiceErrorCode, code)
	h.Set(HeaderServiceError, msg)
	return h
}

func (c *Connector) respondError(s *contract.Subject, m *nats.Msg, corr, code, msg string) {
	h := errorHeader(code, msg)
	h.Set(HeaderCorrelationID, corr)
	c.respond(s, m, contract.ErrorReply(s.Reply(), code, msg), h)
}

func (c *Connector) respond(s *contract.Subject, m *nats.Msg, body []byte, h nats.Header) {
	result := "ok"
	if h.Get(HeaderServiceErrorCode) != "" {
		result = "error"
	}
	r := &nats.Msg{Subject: m.Reply, Data: body}
	if len(h) > 0 {
		r.Header = h
	}
	if err := c.nc.PublishMsg(r); err != nil {
		c.log.Error("reply not sent", "subject", s.Name, "err", err)
		result = "unsent"
	}
	c.metrics.replies.WithLabelValues(s.Name, result).Inc()
}

// traced starts the connector's span of an order, continuing the trace h
// carries, and returns the trace context for the HTTP leg: the span's, or
// with tracing off what h carries, unchanged.
func (c *Connector) traced(ctx context.Context, h nats.Header, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span, http.Header) {
	if c.tracer == nil {
		return ctx, trace.SpanFromContext(ctx), traceHeaders(h)
	}
	ctx, span := c.tracer.Start(tracing.Extract(ctx, h), name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	out := http.Header{}
	tracing.Inject(ctx, out)
	return ctx, span, out
}

// traceHeaders copies W3C trace context onto the HTTP leg.
func traceHeaders(h nats.Header) http.Header {
	var out http.Header
	for _, k := range []string{contract.HeaderTraceParent, contract.HeaderTraceState} {
		if v := h.Get(k); v != "" {
			if out == nil {
				out = http.Header{}
			}
			out.Set(k, v)
		}
	}
	return out
}

// userID extracts user_id from any payload type, for logs.
func userID(r *contract.Request) string {
	if u, ok := r.Payload.(interface{ GetUserID() string }); ok {
		return u.GetUserID()
	}
	return ""
}

// The span kinds of the connector's spans: it serves a request, consumes
// an event.
const (
	traceKindServer   = trace.SpanKindServer
	traceKindConsumer = trace.SpanKindConsumer
)
