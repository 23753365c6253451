// Package fnhttp is the HTTP adapter every function uses: it turns one HTTP
// request (from of-watchdog, the OpenFaaS gateway, Knative or the local
// gateway) into one call of the function's typed Core, and the outcome into
// one HTTP answer and one log line.
//
// A request is a POST on any path. Its body is the order as plain JSON, or a
// CloudEvent in binary or structured mode whose data is the order. The
// subject comes from X-Nats-Subject, the natssubject extension, or is the
// function's only subject. The order is validated with the contract before
// the core sees it.
//
// Failure semantics, for the connector's ack policy: invalid input is 400
// (and 413 for an oversized body), permanent errors of the core 422,
// throttling 429, temporary errors 503, a passed deadline 504, and a panic or
// a reply that does not fit the contract 500. Every failure carries the
// Nats-Service-Error-Code and Nats-Service-Error headers and a body in the
// order's reply shape, so a requester always gets an answer it can read.
// Temporary failures answer a generic message; their details go to the log
// only. Permanent failures answer the error's own words without the causes
// it wraps (WithMessage sets another text); the log keeps the whole chain.
// Bodies are never logged.
//
// With Config.Keys set, an invocation without a valid signature (package
// invokeauth) gets 401 and code CodeUnauthorized; the core never sees it.
package fnhttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/tracing"
)

// writeSlack is how long after the call's deadline the response may still be
// written.
const writeSlack = 5 * time.Second

type handler struct {
	cfg      Config
	subjects []*contract.Subject // served, in cfg.Subjects order
	core     Core
	// pool runs the core: its goroutines keep the stacks the core grew.
	pool   gopool.Pool
	logger *slog.Logger
	tracer trace.Tracer // nil when tracing is off
}

// New returns the HTTP handler of a function around its core. Zero fields of
// cfg take their defaults; subjects of cfg that the contract does not know
// are not served (check with cfg.Validate first). It serves GET /_/health and
// GET /healthz; every other POST is an invocation; other methods get 405.
func New(cfg Config, c *contract.Contract, core Core, logger *slog.Logger) http.Handler {
	cfg = cfg.withDefaults(c)
	h := &handler{cfg: cfg, core: core, logger: logger.With("fn", cfg.Function)}
	if cfg.Tracing != nil {
		h.tracer = tracing.Tracer(cfg.Tracing)
	}
	for _, name := range cfg.Subjects {
		if s, ok := c.Subject(name); ok {
			h.subjects = append(h.subjects, s)
		}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isHealth := r.URL.Path == "/_/health" || r.URL.Path == "/healthz"
	switch {
	case isHealth && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: invoke with POST", http.StatusMethodNotAllowed)
	default:
		h.invoke(w, r)
	}
}

// invoke handles one invocation: one answer, one log line.
func (h *handler) invoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &record{}
	a := h.handle(w, r, rec)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderCorrelationID, rec.corrID)
	if a.code != "" {
		w.Header().Set(HeaderServiceErrorCode, headerText(a.code))
		w.Header().Set(HeaderServiceError, headerText(a.msg))
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	rec.status = a.status
	rec.log(h.logger, time.Since(start))
}

// handle decodes, validates and runs one invocation, filling rec.
func (h *handler) handle(w http.ResponseWriter, r *http.Request, rec *record) answer {
	m := readMeta(r.Header)
	rec.attempt, rec.warnings = m.attempt, m.warnings
	if h.cfg.Keys != nil {
		if err := h.authenticate(w, r); err != nil {
			rec.corrID = firstNonEmpty(m.corrID, rand.Text())
			rec.subject = r.Header.Get(HeaderSubject)
			return h.unauthenticated(err, rec)
		}
	}
	in, err := readInbound(w, r, h.cfg.MaxBodyBytes)
	rec.corrID = firstNonEmpty(m.corrID, in.ceID)
	if rec.corrID == "" {
		rec.corrID = rand.Text()
	}
	subject := h.subject(in.subject)
	rec.subject = in.subject
	if subject != nil {
		rec.subject = subject.Name
	}
	if err != nil {
		return h.unreadable(h.shapeFor(subject), err, rec)
	}
	if subject == nil {
		rec.userID = userIDOf(in.data)
		return h.unserved(in.subject, rec)
	}
	req, err := subject.Decode(in.data)
	if err != nil {
		rec.userID = userIDOf(in.data)
		return invalid(subject, err, rec)
	}
	rec.userID = payloadUserID(req.Payload)
	rec.order = req.Order.Name
	deadline := time.Now().Add(h.cfg.Timeout)
	if !m.deadline.IsZero() && m.deadline.Before(deadline) {
		deadline = m.deadline
	}
	_ = http.NewResponseController(w).SetWriteDeadline(deadline.Add(writeSlack))
	call := &Call{
		Function:      h.cfg.Function,
		Request:       req,
		CorrelationID: rec.corrID,
		Attempt:       rec.attempt,
		Deadline:      deadline,
		Logger: withDeferred(h.logger, slog.String("subject", rec.subject), slog.String("order", rec.order),
			slog.String("user_id", rec.userID), slog.String("corr_id", rec.corrID)),
	}
	if h.tracer == nil {
		return h.call(r.Context(), call, rec)
	}
	ctx, span := h.tracer.Start(tracing.Extract(r.Context(), r.Header), h.cfg.Function+" "+rec.order,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("messaging.destination.name", rec.subject), attribute.String("caliopen.correlation_id", rec.corrID)))
	a := h.call(ctx, call, rec)
	if rec.outcome != outcomeOK {
		span.SetStatus(codes.Error, rec.outcome)
	}
	span.End()
	return a
}

// call runs the core under the call's deadline and maps its outcome.
func (h *handler) call(parent context.Context, call *Call, rec *record) answer {
	sh := shapeOf(call.Request.Subject, call.Request.Order)
	if !time.Now().Before(call.Deadline) {
		rec.fail(outcomeTimeout, errors.New("caller deadline passed before the call"))
		return sh.fail(http.StatusGatewayTimeout, contract.CodeTimeout, msgTimeout)
	}
	// The orders the core sends carry the invocation's correlation id.
	ctx, cancel := context.WithDeadline(contract.WithCorrelationID(parent, call.CorrelationID),
		coreDeadline(time.Now(), call.Deadline))
	defer cancel()
	out := runCore(ctx, &h.pool, h.core, call, func(late ran) {
		if late.panicked { // after the answer: the invocation's line is written
			call.Logger.Error("late panic", "outcome", outcomePanic,
				"err", fmt.Sprint(late.panicVal), "stack", string(late.stack))
			return
		}
		// A core that outlives its deadline holds a goroutine (and maybe a
		// core) after the answer: say so, with how long it overran.
		call.Logger.Warn("core returned after its deadline", "outcome", outcomeTimeout,
			"late_ms", time.Since(call.Deadline).Milliseconds())
	})
	switch {
	case out.panicked:
		rec.fail(outcomePanic, fmt.Errorf("panic: %v", out.panicVal))
		rec.stack = out.stack
		return sh.fail(http.StatusInternalServerError, contract.CodeFailed, msgInternal)
	case out.err != nil:
		return failure(sh, out.err, errors.Is(ctx.Err(), context.DeadlineExceeded), rec)
	}
	a, err := success(call.Request.Order, out.res)
	if err != nil {
		rec.fail(outcomeBadReply, err)
		return sh.fail(http.StatusInternalServerError, contract.CodeBadReply, "the function gave a malformed reply")
	}
	rec.outcome = outcomeOK
	return a
}

// Generic texts for failures whose details stay in the log.
const (
	msgTemporary = "temporary failure, retry later"
	msgThrottled = "overloaded, retry later"
	msgTimeout   = "timed out, retry later"
	msgInternal  = "internal error"
)

// failure maps a core's error to an answer by its class (package faults).
func failure(sh shape, err error, deadlinePassed bool, rec *record) answer {
	class := faults.ClassOf(err)
	switch {
	case class == faults.Permanent:
		rec.fail(outcomePermanent, err)
		return sh.fail(faults.HTTPStatus(err), codeOf(err, contract.CodeFailed), replyText(err))
	case class == faults.Throttled:
		rec.fail(outcomeThrottled, err)
		return sh.fail(faults.HTTPStatus(err), codeOf(err, contract.CodeOverloaded), setText(err, msgThrottled))
	case deadlinePassed || errors.Is(err, context.DeadlineExceeded):
		rec.fail(outcomeTimeout, err)
		return sh.fail(http.StatusGatewayTimeout, codeOf(err, contract.CodeTimeout), msgTimeout)
	}
	rec.fail(outcomeTemporary, err)
	return sh.fail(faults.HTTPStatus(err), codeOf(err, contract.CodeFailed), setText(err, msgTemporary))
}

// setText is the message WithMessage set on a temporary or throttled
// error, else def: their causes stay in the log.
func setText(err error, def string) string {
	var m *messageError
	if errors.As(err, &m) {
		return m.msg
	}
	return def
}

// ownText is what a permanent error says itself, without the chain of
// causes it wraps (a store's or a library's error, which the log keeps):
// wrappers that add no text (faults, WithCode) are looked through, and the
// first error that adds some keeps only its own words, as
// fmt.Errorf("load draft %s: %w", ...) writes them.
func ownText(err error) string {
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		text, innerText := err.Error(), inner.Error()
		if text == innerText {
			err = inner
			continue
		}
		if own, ok := strings.CutSuffix(text, ": "+innerText); ok && own != "" {
			return own
		}
		return text
	}
}

// invalid answers an order that does not fit the contract.
func invalid(s *contract.Subject, err error, rec *record) answer {
	var ve *contract.ValidationError
	if !errors.As(err, &ve) {
		ve = &contract.ValidationError{Code: contract.CodeInvalidJSON, Subject: s.Name, Detail: "unreadable order"}
	}
	o, known := s.Order(ve.Order)
	if known {
		rec.order = o.Name
	}
	rec.fail(outcomeInvalid, safeValidation{ve})
	return shapeOf(s, o).fail(http.StatusBadRequest, ve.Code, ve.Public())
}

// unreadable answers a body that could not be read: too large, or a broken
// CloudEvents envelope.
func (h *handler) unreadable(sh shape, err error, rec *record) answer {
	rec.fail(outcomeInvalid, err)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return sh.fail(http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("request body is over %d bytes", h.cfg.MaxBodyBytes))
	}
	if errors.Is(err, errBadEvent) {
		return sh.fail(http.StatusBadRequest, contract.CodeInvalidJSON, errBadEvent.Error())
	}
	return sh.fail(http.StatusBadRequest, contract.CodeInvalidJSON, "unreadable request body")
}

// unserved answers an order on a subject the function does not serve, or
// with no subject when the function serves several.
func (h *handler) unserved(name string, rec *record) answer {
	msg := fmt.Sprintf("function %s does not serve the subject named in %s; it serves %s",
		h.cfg.Function, HeaderSubject, strings.Join(h.cfg.Subjects, ", "))
	if name == "" {
		msg = fmt.Sprintf("no subject given: set %s to one of %s", HeaderSubject, strings.Join(h.cfg.Subjects, ", "))
	}
	rec.fail(outcomeInvalid, errors.New(msg))
	return h.shapeFor(nil).fail(http.StatusBadRequest, contract.CodeUnknownSubject, msg)
}

// subject returns the served subject named, or the only served subject when
// name is empty; nil when there is none.
func (h *handler) subject(name string) *contract.Subject {
	if name == "" && len(h.subjects) == 1 {
		return h.subjects[0]
	}
	for _, s := range h.subjects {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// shapeFor is the answer's form for a subject before the order is known.
// When the subject is unknown (nil) it is the form all served subjects
// share, else the contract's generic error reply.
func (h *handler) shapeFor(s *contract.Subject) shape {
	if s != nil {
		return shapeOf(s, nil)
	}
	if len(h.subjects) == 0 {
		return shapeOf(nil, nil)
	}
	first := shapeOf(h.subjects[0], nil)
	for _, s := range h.subjects[1:] {
		if shapeOf(s, nil) != first {
			return shapeOf(nil, nil)
		}
	}
	return first
}
