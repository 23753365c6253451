package fnhttp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

// Outcomes, the value of the log line's "outcome" key.
const (
	outcomeOK        = "ok"
	outcomeInvalid   = "invalid"
	outcomePermanent = "permanent"
	outcomeTemporary = "temporary"
	outcomeThrottled = "throttled"
	outcomeTimeout   = "timeout"
	outcomePanic     = "panic"
	outcomeBadReply  = "bad_reply"
	// outcomeUnauthenticated: no valid invocation signature.
	outcomeUnauthenticated = "unauthenticated"
)

// record collects what the invocation's one log line says. It never holds
// the body or a payload value other than user_id.
type record struct {
	subject, order, userID, corrID string
	attempt                        int
	status                         int
	outcome                        string
	err                            error
	stack                          []byte
	warnings                       []string
}

func (rec *record) fail(outcome string, err error) {
	rec.outcome, rec.err = outcome, err
}

// log writes the invocation's one line with stable keys.
func (rec *record) log(logger *slog.Logger, d time.Duration) {
	attrs := []slog.Attr{
		slog.String("subject", rec.subject),
		slog.String("order", rec.order),
		slog.String("user_id", rec.userID),
		slog.String("corr_id", rec.corrID),
		slog.Int("attempt", rec.attempt),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.Int("status", rec.status),
		slog.String("outcome", rec.outcome),
	}
	if rec.err != nil {
		attrs = append(attrs, slog.String("err", rec.err.Error()))
	}
	if len(rec.warnings) > 0 {
		attrs = append(attrs, slog.String("warn", strings.Join(rec.warnings, "; ")))
	}
	if rec.stack != nil {
		attrs = append(attrs, slog.String("stack", string(rec.stack)))
	}
	level := slog.LevelInfo
	switch rec.outcome {
	case outcomeOK:
	case outcomePanic, outcomeBadReply:
		level = slog.LevelError
	default:
		level = slog.LevelWarn
	}
	logger.LogAttrs(context.Background(), level, "invocation", attrs...)
}

// safeValidation words a validation error for the log without the payload
// values that ValidationError.Error may quote (an unknown order's name, a
// malformed field's value): code, subject, known order and field name only.
type safeValidation struct{ ve *contract.ValidationError }

func (s safeValidation) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", s.ve.Code, s.ve.Subject)
	if s.ve.Field != "" {
		fmt.Fprintf(&b, ": field %q", s.ve.Field)
	}
	return b.String()
}
