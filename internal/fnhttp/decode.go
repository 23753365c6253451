package fnhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// inbound is what the request says, before validation.
type inbound struct {
	data    []byte // the order's JSON
	subject string // from HeaderSubject or the CloudEvents extension; may be empty
	ceID    string // CloudEvents id, if any
}

// errBadEvent marks a CloudEvents envelope that cannot be read.
var errBadEvent = errors.New("unreadable CloudEvent")

// readInbound reads the body, at most limit bytes, as plain JSON or as a
// CloudEvent in binary mode (ce-* headers, body = data) or structured mode
// (application/cloudevents+json; data or data_base64). Any other content type
// is read as plain JSON, so that `faas-cli invoke` (text/plain) works.
func readInbound(w http.ResponseWriter, r *http.Request, limit int64) (inbound, error) {
	in := inbound{subject: strings.TrimSpace(r.Header.Get(HeaderSubject))}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/cloudevents") {
		// Plain JSON or binary mode: the body is the data and the attributes
		// are headers, so the hot path reads them directly.
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return in, fmt.Errorf("read body: %w", err)
		}
		in.data = data
		in.ceID = r.Header.Get(HeaderCloudEventID)
		if in.subject == "" {
			in.subject = strings.TrimSpace(r.Header.Get("Ce-" + ExtensionSubject))
		}
		return in, nil
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer func() { _ = msg.Finish(nil) }()
	switch msg.ReadEncoding() {
	case binding.EncodingUnknown:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return in, fmt.Errorf("read body: %w", err)
		}
		in.data = data
		in.ceID = r.Header.Get(HeaderCloudEventID)
		return in, nil
	case binding.EncodingBatch:
		return in, fmt.Errorf("%w: batch mode is not supported", errBadEvent)
	}
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return in, fmt.Errorf("read CloudEvent: %w", err)
		}
		return in, fmt.Errorf("%w: %w", errBadEvent, err)
	}
	in.data = ev.Data()
	in.ceID = ev.ID()
	if in.subject == "" {
		if s, ok := ev.Extensions()[ExtensionSubject].(string); ok {
			in.subject = strings.TrimSpace(s)
		}
	}
	return in, nil
}

// meta is what the request headers say about the call.
type meta struct {
	corrID   string
	attempt  int
	deadline time.Time // zero: none given
	warnings []string  // malformed headers, ignored
}

// readMeta reads the call's headers. Malformed values are ignored and
// reported in warnings: they must not cost the order.
func readMeta(h http.Header) meta {
	m := meta{attempt: 1}
	m.corrID = firstNonEmpty(h.Get(HeaderCorrelationID), h.Get(HeaderCallID))
	if v := h.Get(HeaderDeliveryAttempt); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			m.warnings = append(m.warnings, "ignored malformed "+HeaderDeliveryAttempt)
		} else {
			m.attempt = n
		}
	}
	if v := h.Get(HeaderDeadline); v != "" {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		if err != nil {
			m.warnings = append(m.warnings, "ignored malformed "+HeaderDeadline)
		} else {
			m.deadline = t
		}
	}
	return m
}

// userIDOf returns the order's user_id when it is a short string, for the
// log line; it is the one payload value that may be logged.
func userIDOf(data []byte) string {
	var probe struct {
		UserID json.RawMessage `json:"user_id"`
	}
	if json.Unmarshal(data, &probe) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(probe.UserID, &id) != nil || len(id) > 128 {
		return ""
	}
	return id
}

// payloadUserID reads user_id from a decoded payload, for the log line.
func payloadUserID(p any) string {
	if u, ok := p.(interface{ GetUserID() string }); ok && len(u.GetUserID()) <= 128 {
		return u.GetUserID()
	}
	return ""
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
