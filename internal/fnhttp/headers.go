package fnhttp

import "github.com/caliopen/functions/internal/contract"

// Request headers the adapter reads. The connector sets them; all are
// optional, so a plain JSON POST works.
const (
	// HeaderSubject names the NATS subject the order arrived on.
	HeaderSubject = contract.HTTPSubject
	// HeaderCorrelationID carries the order's correlation id, set once at
	// ingress. It is echoed on the response.
	HeaderCorrelationID = contract.HTTPCorrelationID
	// HeaderCallID is the OpenFaaS gateway's per-call id, the correlation id
	// when HeaderCorrelationID is absent.
	HeaderCallID = contract.HTTPCallID
	// HeaderDeliveryAttempt counts deliveries of the order, from 1.
	HeaderDeliveryAttempt = contract.HTTPDeliveryAttempt
	// HeaderDeadline is when the caller stops waiting, in RFC 3339 with
	// nanoseconds (time.RFC3339Nano).
	HeaderDeadline = contract.HTTPDeadline
	// HeaderCloudEventID is the CloudEvents binary-mode id, the correlation
	// id of last resort before a generated one.
	HeaderCloudEventID = contract.HTTPCloudEventID
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
	HeaderServiceErrorCode = contract.HeaderServiceErrorCode
	// HeaderServiceError is a short human message, one line.
	HeaderServiceError = contract.HeaderServiceError
)
