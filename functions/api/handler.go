package api

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/store"
	"github.com/caliopen/functions/internal/tracing"
)

// access says who may call a route.
type access int

const (
	public access = iota // no token
	user                 // a valid token
	admin                // a valid token of an admin
)

// HeaderCorrelationID carries the correlation id of a request, in and out;
// the orders a request emits carry it too.
const HeaderCorrelationID = contract.HTTPCorrelationID

// call is one request being served.
type call struct {
	ctx  context.Context
	r    *http.Request
	user store.User // the caller, for user and admin routes
	rec  *record
	// resourceID is the id reserved for the object the call creates,
	// under its idempotency key (see newID).
	resourceID string
}

// handlerFunc serves a call: it writes the answer, or returns an error
// that fail turns into one.
type handlerFunc func(w http.ResponseWriter, c *call) error

// record is what the one log line of a request says. It never holds a body,
// a password or a token.
type record struct {
	method, route, userID, corrID string
	subject, order                string
	pending                       error // why an order was left to the outbox relay
	status                        int
	outcome                       string
	err                           error
	stack                         []byte
}

// ServeHTTP serves one request: correlation id, panic recovery, routing,
// and one log line.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &record{method: r.Method, corrID: correlationID(r)}
	w.Header().Set(HeaderCorrelationID, rec.corrID)
	sw := &statusWriter{ResponseWriter: w, rec: rec}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			rec.stack = debug.Stack()
			if !sw.wrote {
				s.fail(sw, rec, &apiError{status: http.StatusInternalServerError, code: "internal",
					msg: "internal error", err: fmt.Errorf("panic: %v", p)})
			}
			rec.outcome = "panic"
		}
		s.logRequest(rec, time.Since(start))
	}()
	ctx := contract.WithCorrelationID(r.Context(), rec.corrID)
	if s.tracer != nil {
		var span trace.Span
		ctx, span = s.tracer.Start(tracing.Extract(ctx, r.Header), "api "+r.Method,
			trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("caliopen.correlation_id", rec.corrID)))
		defer func() {
			if rec.route != "" { // the route, not the path: one name for every message
				span.SetName("api " + rec.route)
			}
			span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
			if rec.status >= 500 {
				span.SetStatus(codes.Error, rec.outcome)
			}
			span.End()
		}()
	}
	s.mux.ServeHTTP(sw, r.WithContext(ctx))
}

// handle registers h under pattern behind the access check.
func (s *server) handle(pattern string, a access, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		sw := w.(*statusWriter)
		rec := sw.rec
		rec.route = pattern
		c := &call{ctx: r.Context(), r: r, rec: rec}
		err := s.authorize(c, a)
		if err == nil {
			err = h(w, c)
		}
		if err != nil {
			s.fail(w, rec, err)
		}
	})
}

// authorize checks the bearer token of routes that need one and sets the
// caller.
func (s *server) authorize(c *call, a access) error {
	if a == public {
		return nil
	}
	token, ok := bearer(c.r)
	if !ok {
		return &apiError{status: http.StatusUnauthorized, code: "unauthorized",
			msg: "missing bearer token: send Authorization: Bearer <token>"}
	}
	u, err := s.accounts.Verify(c.ctx, token)
	if err != nil {
		return authError(err)
	}
	c.user, c.rec.userID = u, u.ID
	if a == admin && !u.IsAdmin {
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "this route is for admins"}
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// correlationID returns the request's correlation id: X-Correlation-Id, else
// the gateway's X-Call-Id, else a new one. A value that is too long or not
// printable ASCII is replaced.
func correlationID(r *http.Request) string {
	for _, h := range []string{HeaderCorrelationID, "X-Call-Id"} {
		if v := r.Header.Get(h); v != "" && len(v) <= 128 && printable(v) {
			return v
		}
	}
	return rand.Text()
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// logRequest writes the request's one line with stable keys.
func (s *server) logRequest(rec *record, d time.Duration) {
	if rec.outcome == "" {
		rec.outcome = outcomeOf(rec.status)
	}
	attrs := []slog.Attr{
		slog.String("method", rec.method),
		slog.String("route", rec.route),
		slog.String("user_id", rec.userID),
		slog.String("corr_id", rec.corrID),
		slog.Int("status", rec.status),
		slog.String("outcome", rec.outcome),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
	if rec.subject != "" {
		attrs = append(attrs, slog.String("subject", rec.subject), slog.String("order", rec.order))
	}
	if rec.err != nil {
		attrs = append(attrs, slog.String("err", rec.err.Error()))
	}
	if rec.pending != nil {
		attrs = append(attrs, slog.String("order_pending", rec.pending.Error()))
	}
	if rec.stack != nil {
		attrs = append(attrs, slog.String("stack", string(rec.stack)))
	}
	level := slog.LevelInfo
	switch {
	case rec.outcome == "panic" || rec.status >= 500 && rec.status != http.StatusServiceUnavailable &&
		rec.status != http.StatusBadGateway && rec.status != http.StatusGatewayTimeout:
		level = slog.LevelError
	case rec.status >= 500 || rec.pending != nil:
		level = slog.LevelWarn
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

// outcomeOf names the outcome of a status.
func outcomeOf(status int) string {
	switch {
	case status < 400:
		return "ok"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "refused"
	case status < 500:
		return "client_error"
	default:
		return "server_error"
	}
}

// statusWriter records the status, and turns the mux's own plain-text
// answers (no route, wrong method) into JSON errors.
type statusWriter struct {
	http.ResponseWriter
	rec     *record
	wrote   bool
	swallow bool
}

// WriteHeader records the status; an error the mux writes itself (no
// route matched: rec.route is empty) becomes a JSON error.
func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote, w.rec.status = true, code
	if w.rec.route == "" && code >= 400 {
		msg := "no such route"
		errCode := "not_found"
		if code == http.StatusMethodNotAllowed {
			msg, errCode = "method not allowed on this route (see the Allow header)", "method_not_allowed"
		}
		h := w.Header()
		h.Del("Content-Length")
		h.Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(code)
		_, _ = w.ResponseWriter.Write(errorBody(errCode, msg, nil))
		w.swallow = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write writes the body, unless the mux's own text is being replaced.
func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
