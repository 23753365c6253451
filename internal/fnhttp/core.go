package fnhttp

import (
	"context"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

// Call is one invocation of a function's core: a validated order and what
// the caller said about it. It carries no HTTP or NATS types.
type Call struct {
	// Function is the function's name.
	Function string
	// Request is the validated order (subject, order spec, typed payload).
	Request *contract.Request
	// CorrelationID ties the invocation to the order's other log lines.
	CorrelationID string
	// Attempt counts deliveries of this order, from 1.
	Attempt int
	// Deadline is when the caller stops waiting (zero: none given).
	Deadline time.Time
	// Logger is bound to the invocation's keys (fn, subject, order, user_id, corr_id).
	Logger *slog.Logger
}

// Result is what a core returns on success.
type Result struct {
	// Reply is encoded as the JSON body. For request/reply orders it must be
	// the order's reply shape (contract.DeliverReply, contract.InboundReply);
	// when nil the adapter answers the shape's plain success.
	Reply any
	// Message is a short human text for the default reply and the log.
	Message string
}

// Core is a function's typed core: order in, reply or outcome out. Errors are
// classified with package faults: permanent errors become 4xx answers,
// temporary ones 5xx, throttling 429.
type Core func(ctx context.Context, call *Call) (Result, error)
