package fnhttp

// Request headers the adapter reads. The connector sets them; all are
// optional, so a plain JSON POST works.
const (
	// HeaderSubject names the NATS subject the order arrived on.
	HeaderSubject = "X-Nats-Subject"
	// HeaderCorrelationID carries the order's correlation id, set once at
	// ingress. It is echoed on the response.
	HeaderCorrelationID = "X-Correlation-Id"
	// HeaderCallID is the OpenFaaS gateway's per-call id, the correlation id
	// when HeaderCorrelationID is absent.
	HeaderCallID = "X-Call-Id"
	// HeaderDeliveryAttempt counts deliveries of the order, from 1.
	HeaderDeliveryAttempt = "X-Delivery-Attempt"
	// HeaderDeadline is when the caller stops waiting, in RFC 3339 with
	// nanoseconds (time.RFC3339Nano).
	HeaderDeadline = "X-Caliopen-Deadline"
	// HeaderCloudEventID is the CloudEvents binary-mode id, the correlation
	// id of last resort before a generated one.
	HeaderCloudEventID = "Ce-Id"
)

// ExtensionSubject is the CloudEvents extension attribute that may name the
// NATS subject (binary mode: header Ce-Natssubject) when HeaderSubject is
// absent.
const ExtensionSubject = "natssubject"

// Response headers the adapter sets on failures. The connector copies them
// onto the NATS reply, as NATS services do.
const (
	// HeaderServiceErrorCode is the stable error code (contract.Code*,
	// CodeTooLarge or a core's WithCode code).
	HeaderServiceErrorCode = "Nats-Service-Error-Code"
	// HeaderServiceError is a short human message, one line.
	HeaderServiceError = "Nats-Service-Error"
)
