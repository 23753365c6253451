package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Error codes. They are stable: they appear in inbound error replies, in the
// Nats-Service-Error-Code header and in logs.
const (
	CodeInvalidJSON    = "invalid_json"
	CodeUnknownSubject = "unknown_subject"
	CodeUnknownOrder   = "unknown_order"
	CodeMissingField   = "missing_field"
	CodeInvalidField   = "invalid_field"
)

// ValidationError says why a payload does not fit the contract. It is a
// permanent error: sending the same bytes again cannot succeed.
type ValidationError struct {
	Code    string
	Subject string
	Order   string // empty when the order is unknown or unreadable
	Field   string // the missing or malformed field, if any
	Detail  string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	switch e.Code {
	case CodeInvalidJSON:
		fmt.Fprintf(&b, "invalid JSON on %s: %s", e.Subject, e.Detail)
	case CodeUnknownSubject:
		fmt.Fprintf(&b, "unknown subject %q", e.Subject)
	case CodeUnknownOrder:
		fmt.Fprintf(&b, "unknown order %q on %s (%s)", e.Order, e.Subject, e.Detail)
	case CodeMissingField:
		fmt.Fprintf(&b, "missing field %q in order %q on %s", e.Field, e.Order, e.Subject)
	case CodeInvalidField:
		fmt.Fprintf(&b, "malformed field %q in order %q on %s: %s", e.Field, e.Order, e.Subject, e.Detail)
	default:
		fmt.Fprintf(&b, "%s on %s: %s", e.Code, e.Subject, e.Detail)
	}
	return b.String()
}

// Permanent marks validation errors as not worth retrying.
func (e *ValidationError) Permanent() bool { return true }

// Request is a decoded, validated order.
type Request struct {
	Subject *Subject
	Order   *Order
	// Payload points to the order's payload type (*DeliverOrder, ...).
	Payload any
}

// Decode validates data as an order on subject and decodes it. Unknown JSON
// fields are ignored, so that newer emitters keep working.
func (c *Contract) Decode(subject string, data []byte) (*Request, error) {
	s, ok := c.Subject(subject)
	if !ok {
		return nil, &ValidationError{Code: CodeUnknownSubject, Subject: subject}
	}
	return s.Decode(data)
}

// Decode validates data as an order on the subject and decodes it.
func (s *Subject) Decode(data []byte) (*Request, error) {
	fail := func(code, order, field, detail string) error {
		return &ValidationError{Code: code, Subject: s.Name, Order: order, Field: field, Detail: detail}
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fail(CodeInvalidJSON, "", "", "empty body")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fail(CodeInvalidJSON, "", "", jsonProblem(err))
	}
	if fields == nil {
		return nil, fail(CodeInvalidJSON, "", "", "want a JSON object, got null")
	}
	rawOrder, ok := fields["order"]
	if !ok {
		return nil, fail(CodeMissingField, "", "order", "")
	}
	var name string
	if err := json.Unmarshal(rawOrder, &name); err != nil {
		return nil, fail(CodeInvalidField, "", "order", "want a string, got "+jsonKind(rawOrder))
	}
	if name == "" {
		return nil, fail(CodeMissingField, "", "order", "")
	}
	o, ok := s.Order(name)
	if !ok {
		return nil, fail(CodeUnknownOrder, name, "", "want one of "+strings.Join(s.OrderNames(), ", "))
	}
	// Type-check every known field that is present, in payload order, so the
	// first problem named is stable.
	for _, f := range o.Payload.Fields {
		raw, present := fields[f.Name]
		if !present || string(raw) == "null" {
			continue
		}
		switch f.Kind {
		case KindString:
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fail(CodeInvalidField, name, f.Name, "want a string, got "+jsonKind(raw))
			}
		case KindMinutes:
			if _, err := parseMinutes(raw); err != nil {
				return nil, fail(CodeInvalidField, name, f.Name, err.Error())
			}
		}
	}
	for _, req := range o.Required {
		raw, present := fields[req]
		if !present || string(raw) == "null" || string(raw) == `""` {
			return nil, fail(CodeMissingField, name, req, "")
		}
	}
	v := o.Payload.New()
	if err := json.Unmarshal(data, v); err != nil {
		// Unreachable after the checks above, kept as a guard.
		return nil, fail(CodeInvalidJSON, name, "", jsonProblem(err))
	}
	return &Request{Subject: s, Order: o, Payload: v}, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case asErr(err, &syn):
		return fmt.Sprintf("%s at byte %d", syn.Error(), syn.Offset)
	case asErr(err, &typ):
		return "want a JSON object, got " + typ.Value
	default:
		return err.Error()
	}
}

func jsonKind(raw json.RawMessage) string {
	switch {
	case len(raw) == 0:
		return "nothing"
	case raw[0] == '"':
		return "a string"
	case raw[0] == '{':
		return "an object"
	case raw[0] == '[':
		return "an array"
	case raw[0] == 't' || raw[0] == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}
