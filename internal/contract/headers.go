package contract

// Headers of the NATS messages that carry orders, replies and dead letters.
// Emitters, the connector and the tools that read dead letters share them.
const (
	// HeaderCorrelationID ties an order's log lines together across hops;
	// an emitter sets it once and every order sent on its behalf repeats it.
	HeaderCorrelationID = "Caliopen-Correlation-Id"
	// HeaderTimeout is the time a requester still waits for the reply (a Go
	// duration); the connector answers before the shorter of it and the
	// contract's deadline.
	HeaderTimeout = "Caliopen-Timeout"
	// HeaderServiceError and HeaderServiceErrorCode carry an error reply's
	// text and stable code, as NATS services do.
	HeaderServiceError     = "Nats-Service-Error"
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
	// The headers of a dead letter, beside the original's.
	HeaderError     = "Caliopen-Error"
	HeaderErrorCode = "Caliopen-Error-Code"
	HeaderStatus    = "Caliopen-Status"
	HeaderAttempts  = "Caliopen-Attempts"
	HeaderFunction  = "Caliopen-Function"
	HeaderSubject   = "Caliopen-Subject"
	HeaderStreamSeq = "Caliopen-Stream-Seq"
	// HeaderTraceParent and HeaderTraceState are W3C trace context, carried
	// on NATS messages and on the HTTP leg under the same names.
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Headers of the HTTP leg from the connector to a function.
const (
	// HTTPSubject names the NATS subject the order arrived on.
	HTTPSubject = "X-Nats-Subject"
	// HTTPQueue names its queue group.
	HTTPQueue = "X-Nats-Queue"
	// HTTPReply says whether a requester waits for the answer.
	HTTPReply = "X-Nats-Reply"
	// HTTPCorrelationID carries the order's correlation id; functions and
	// the API echo it on their answers.
	HTTPCorrelationID = "X-Correlation-Id"
	// HTTPCallID is the OpenFaaS gateway's per-call id.
	HTTPCallID = "X-Call-Id"
	// HTTPDeliveryAttempt counts deliveries of the order, from 1.
	HTTPDeliveryAttempt = "X-Delivery-Attempt"
	// HTTPDeadline is when the caller stops waiting (time.RFC3339Nano).
	HTTPDeadline = "X-Caliopen-Deadline"
	// HTTPTimeout is the same deadline as a duration, for of-watchdog.
	HTTPTimeout = "X-Timeout"
	// CloudEvents binary mode attributes.
	HTTPCloudEventSpec    = "Ce-Specversion"
	HTTPCloudEventID      = "Ce-Id"
	HTTPCloudEventType    = "Ce-Type"
	HTTPCloudEventSource  = "Ce-Source"
	HTTPCloudEventSubject = "Ce-Subject"
	HTTPCloudEventTime    = "Ce-Time"
	// HTTPCloudEventNATSSubject is the extension attribute natssubject.
	HTTPCloudEventNATSSubject = "Ce-Natssubject"
)
