package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

// Stream settings.
const (
	streamMaxAge    = 7 * 24 * time.Hour
	dlqMaxAge       = 30 * 24 * time.Hour
	duplicateWindow = 2 * time.Minute
	publishTimeout  = 5 * time.Second
)

// declareStreams creates or updates the order stream (the pure
// publish/subscribe subjects and the hand-off subjects) and the dead-letter
// stream. Both are idempotent, so every replica runs them at start.
func (c *Connector) declareStreams(ctx context.Context) error {
	var subjects []string
	for _, s := range c.contract.Subjects {
		if !s.HasRequests() {
			subjects = append(subjects, s.Name)
		}
	}
	subjects = append(subjects, c.cfg.HandoffPrefix+".>")
	_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.cfg.StreamName,
		Description: "Caliopen publish/subscribe orders, kept until processed (at-least-once)",
		Subjects:    subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      streamMaxAge,
		Duplicates:  duplicateWindow,
		Replicas:    c.cfg.StreamReplicas,
	})
	if err != nil {
		return fmt.Errorf("declare stream %s: %w", c.cfg.StreamName, err)
	}
	_, err = c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.cfg.StreamName + "_DLQ",
		Description: "Caliopen orders that could not be processed: original payload, error in headers",
		Subjects:    []string{c.cfg.DLQPrefix + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      dlqMaxAge,
		Duplicates:  duplicateWindow,
		Replicas:    c.cfg.StreamReplicas,
	})
	if err != nil {
		return fmt.Errorf("declare stream %s_DLQ: %w", c.cfg.StreamName, err)
	}
	return nil
}

// DurableName is the consumer of a subject: its queue group and the subject.
func DurableName(s *contract.Subject) string { return s.Queue + "_" + s.Name }

// eventSubject is where a subject's events are stored.
func (c *Connector) eventSubject(s *contract.Subject) string {
	if s.HasRequests() {
		return c.cfg.HandoffPrefix + "." + s.Name
	}
	return s.Name
}

// consume starts the durable consumer of a subject. Replicas share it, so
// each event goes to one of them.
func (c *Connector) consume(ctx context.Context, s *contract.Subject) error {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.StreamName, jetstream.ConsumerConfig{
		Durable:       DurableName(s),
		Description:   "events of " + s.Name + " for " + s.Function,
		FilterSubject: c.eventSubject(s),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.EventTimeout + 15*time.Second,
		MaxDeliver:    -1, // the connector counts attempts and dead-letters itself
		MaxAckPending: 2 * c.cfg.MaxInflight,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("declare consumer %s: %w", DurableName(s), err)
	}
	p := newPuller(c, s, cons)
	if c.cfg.pullerHook != nil {
		c.cfg.pullerHook(p)
	}
	go p.run()
	c.consumers = append(c.consumers, p)
	return nil
}

// eventOutcome is what the invocations of one delivery came to.
type eventOutcome struct {
	class    faults.Class
	failed   bool
	code     string
	status   int
	function string
	reason   string
	retryIn  time.Duration // the function's Retry-After, if any
}

func (c *Connector) handleEvent(s *contract.Subject, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		c.log.Error("event without metadata", "subject", s.Name, "err", err)
		_ = msg.Term()
		return
	}
	attempt := int(md.NumDelivered)
	corr := correlationID(msg.Headers())
	eventID := md.Stream + "-" + strconv.FormatUint(md.Sequence.Stream, 10)
	// The event's logger is made only when a line is written: most
	// events are processed without one.
	logger := func(req *contract.Request) *slog.Logger {
		l := c.log.With("subject", s.Name, "corr_id", corr, "attempt", attempt, "seq", md.Sequence.Stream)
		if req != nil {
			l = l.With("order", req.Order.Name, "user_id", userID(req))
		}
		return l
	}

	req, err := s.Decode(msg.Data())
	if err != nil {
		var ve *contract.ValidationError
		code := contract.CodeInvalidJSON
		if errors.As(err, &ve) {
			code = ve.Code
		}
		c.deadLetter(s, msg, md, eventOutcome{class: faults.Permanent, code: code, reason: err.Error()}, logger(nil))
		return
	}
	if attempt > c.cfg.MaxAttempts {
		c.deadLetter(s, msg, md, eventOutcome{class: faults.Temporary, code: "attempts_exhausted",
			reason: fmt.Sprintf("delivered %d times, more than %d attempts", attempt, c.cfg.MaxAttempts)}, logger(req))
		return
	}

	out := c.invokeAll(s, req, msg, attempt, corr, eventID)
	switch {
	case !out.failed:
		// A plain ack, not a double one awaiting the server's
		// confirmation (a round trip an event): one lost, as with a
		// connection cut just then, redelivers the event after the ack
		// wait, a duplicate the functions handle as they handle any
		// redelivery. Drain flushes the acks of the last events.
		if err := msg.Ack(); err != nil {
			logger(req).Warn("ack failed; the event will be redelivered", "err", err)
		}
		c.metrics.messages.WithLabelValues(s.Name, "event", "ok").Inc()
		// Processed events are logged at debug level, as answered
		// requests are: the function logs each invocation itself.
		if c.log.Enabled(c.work, slog.LevelDebug) {
			logger(req).Debug("event processed", "outcome", "ok")
		}
	case out.class == faults.Permanent || attempt >= c.cfg.MaxAttempts:
		c.deadLetter(s, msg, md, out, logger(req))
	default:
		delay := c.backoff(attempt, out.retryIn)
		log := logger(req)
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn("nak failed; the event will be redelivered after the ack wait", "err", err)
		}
		c.metrics.redeliveries.WithLabelValues(s.Name).Inc()
		c.metrics.messages.WithLabelValues(s.Name, "event", "retry").Inc()
		attrs := append([]any{"outcome", out.class.String(), "code", out.code}, fnKeys(out.function)...)
		log.Warn("event will be retried", append(attrs, "status", out.status, "retry_in", delay.String(), "err", out.reason)...)
	}
}

// invokeAll invokes every function of the subject and reduces the results:
// a permanent failure wins over a temporary one.
func (c *Connector) invokeAll(s *contract.Subject, req *contract.Request, msg jetstream.Msg, attempt int, corr, eventID string) eventOutcome {
	targets := c.router.Match(s.Name)
	if len(targets) == 0 {
		return eventOutcome{failed: true, class: faults.Temporary, code: contract.CodeNoFunction,
			reason: fmt.Sprintf("no function serves %s yet", s.Name)}
	}
	var worst eventOutcome
	for _, t := range targets {
		o := c.invokeEvent(s, req, t, msg, attempt, corr, eventID)
		if o.failed && (!worst.failed || (o.class == faults.Permanent && worst.class != faults.Permanent)) {
			worst = o
		}
	}
	return worst
}

func (c *Connector) invokeEvent(s *contract.Subject, req *contract.Request, t Target, msg jetstream.Msg, attempt int, corr, eventID string) eventOutcome {
	ctx, cancel := context.WithTimeout(c.work, c.cfg.EventTimeout)
	defer cancel()
	fail := func(class faults.Class, code string, status int, reason string) eventOutcome {
		return eventOutcome{failed: true, class: class, code: code, status: status, function: t.Name, reason: reason}
	}
	release, err := c.invoker.Acquire(ctx, t.Name)
	if err != nil {
		return fail(faults.Temporary, contract.CodeOverloaded, 0, "no free slot for "+t.Name)
	}
	defer release()
	deadline, _ := ctx.Deadline()
	ctx, span, traceHdr := c.traced(ctx, nats.Header(msg.Headers()), "connector "+s.Name, traceKindConsumer,
		attribute.String("messaging.destination.name", s.Name), attribute.String("caliopen.correlation_id", corr),
		attribute.Int("caliopen.attempt", attempt))
	r := c.invoker.Invoke(ctx, t, &Invocation{
		Subject: s.Name, Queue: s.Queue, Order: req.Order.Name, EventID: eventID, CorrelationID: corr,
		Attempt: attempt, Deadline: deadline, Body: msg.Data(), Trace: traceHdr,
	})
	if r.Err != nil || r.Status >= 300 {
		span.SetStatus(codes.Error, fmt.Sprintf("status %d", r.Status))
	}
	span.End()
	if r.Err != nil {
		code := contract.CodeFailed
		if r.TimedOut() {
			code = contract.CodeTimeout
		}
		return fail(faults.Temporary, code, 0, r.Err.Error())
	}
	class, failed := faults.FromStatus(r.Status)
	if !failed {
		return eventOutcome{function: t.Name, status: r.Status}
	}
	if r.Status == http.StatusNotFound {
		// The gateway does not know the function (yet): it may be deploying.
		class = faults.Temporary
	}
	if r.Status == http.StatusUnauthorized {
		// The function refused the connector's signature: the two disagree
		// on the invocation key, as in a rotation half deployed. Retried
		// until MAX_ATTEMPTS, as for a function still deploying.
		class = faults.Temporary
	}
	code, reason := r.Problem(t.Name)
	o := fail(class, code, r.Status, reason)
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err == nil && s > 0 {
		o.retryIn = time.Duration(s) * time.Second
	}
	return o
}

// backoff is base*2^(attempt-1), capped at BackoffMax, with ±20 % jitter; a
// function's Retry-After is honoured when longer.
func (c *Connector) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.cfg.BackoffBase
	for i := 1; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(d, retryAfter)
}

// deadLetter publishes the original payload and headers, with the error in
// Caliopen-* headers, to {DLQ_PREFIX}.{subject}, then terminates the event.
// If the dead-letter publish fails the event is redelivered instead, so
// nothing is lost.
func (c *Connector) deadLetter(s *contract.Subject, msg jetstream.Msg, md *jetstream.MsgMetadata, o eventOutcome, log interface {
	Error(string, ...any)
	Warn(string, ...any)
}) {
	dl := nats.NewMsg(c.cfg.DLQPrefix + "." + s.Name)
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			dl.Header[k] = v
		}
	}
	id := fmt.Sprintf("%s-%d", md.Stream, md.Sequence.Stream)
	dl.Header.Set(nats.MsgIdHdr, "dlq-"+id)
	dl.Header.Set(HeaderError, o.reason)
	dl.Header.Set(HeaderErrorCode, o.code)
	dl.Header.Set(HeaderStatus, strconv.Itoa(o.status))
	dl.Header.Set(HeaderAttempts, strconv.FormatUint(md.NumDelivered, 10))
	dl.Header.Set(HeaderFunction, o.function)
	dl.Header.Set(HeaderSubject, s.Name)
	dl.Header.Set(HeaderStreamSeq, id)
	ctx, cancel := context.WithTimeout(c.work, publishTimeout)
	defer cancel()
	if _, err := c.js.PublishMsg(ctx, dl); err != nil {
		log.Error("dead-letter publish failed; the event will be redelivered", "err", err)
		_ = msg.NakWithDelay(c.backoff(int(md.NumDelivered), 0))
		return
	}
	if err := msg.Term(); err != nil {
		log.Warn("term failed after dead-lettering", "err", err)
	}
	c.metrics.deadLetters.WithLabelValues(s.Name, o.code).Inc()
	c.metrics.messages.WithLabelValues(s.Name, "event", "dead_letter").Inc()
	attrs := append([]any{"outcome", o.class.String(), "code", o.code}, fnKeys(o.function)...)
	log.Warn("event dead-lettered", append(attrs, "status", o.status, "dlq", dl.Subject, "err", o.reason)...)
}

// handoff moves an order published on a request/reply subject (no inbox to
// answer) into the stream, where it is processed at least once.
func (c *Connector) handoff(s *contract.Subject, m *nats.Msg) {
	ctx, cancel := context.WithTimeout(c.work, publishTimeout)
	defer cancel()
	if err := c.handoffMsg(ctx, s, m, correlationID(m.Header)); err != nil {
		c.log.Error("hand-off failed; the order is lost", "subject", s.Name, "err", err)
		c.metrics.handoffs.WithLabelValues(s.Name, "error").Inc()
		return
	}
	c.metrics.handoffs.WithLabelValues(s.Name, "ok").Inc()
}

func (c *Connector) handoffMsg(ctx context.Context, s *contract.Subject, m *nats.Msg, corr string) error {
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = v
	}
	h.Set(HeaderCorrelationID, corr)
	_, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.eventSubject(s), Data: m.Data, Header: h})
	if err != nil {
		return fmt.Errorf("hand off %s: %w", s.Name, err)
	}
	return nil
}
