package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
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

// Public words the error for a reply: what is wrong, naming the contract's
// subjects, orders and fields, never a value the caller sent (an unknown
// order's name, a malformed field's value).
func (e *ValidationError) Public() string {
	switch e.Code {
	case CodeUnknownOrder:
		return fmt.Sprintf("unknown order on %s (%s)", e.Subject, e.Detail)
	case CodeInvalidField:
		msg := fmt.Sprintf("malformed field %q in order %q on %s", e.Field, e.Order, e.Subject)
		if want, _, _ := strings.Cut(e.Detail, ", got "); strings.HasPrefix(want, "want ") {
			msg += ": " + want
		}
		return msg
	}
	return e.Error()
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

// Decode validates data as an order on the subject and decodes it. It reads
// the JSON once, into a probe holding the raw value of every field the
// contract knows; field names match case-insensitively, as encoding/json does.
func (s *Subject) Decode(data []byte) (*Request, error) {
	fail := func(code, order, field, detail string) error {
		return &ValidationError{Code: code, Subject: s.Name, Order: order, Field: field, Detail: detail}
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fail(CodeInvalidJSON, "", "", "empty body")
	}
	if data[0] != '{' {
		if !json.Valid(data) {
			var v any
			return nil, fail(CodeInvalidJSON, "", "", jsonProblem(json.Unmarshal(data, &v)))
		}
		return nil, fail(CodeInvalidJSON, "", "", "want a JSON object, got "+jsonKind(data))
	}
	pr := s.probe.new()
	if err := json.Unmarshal(data, pr.ptr); err != nil {
		return nil, fail(CodeInvalidJSON, "", "", jsonProblem(err))
	}
	rawOrder := pr.raw("order")
	if len(rawOrder) == 0 {
		return nil, fail(CodeMissingField, "", "order", "")
	}
	name, ok := unquote(rawOrder)
	if !ok {
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
	// first problem named is stable, and fill the typed payload.
	v := reflect.New(o.Payload.goType)
	for i, f := range o.Payload.Fields {
		raw := pr.raw(f.Name)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		switch f.Kind {
		case KindString:
			str, ok := unquote(raw)
			if !ok {
				return nil, fail(CodeInvalidField, name, f.Name, "want a string, got "+jsonKind(raw))
			}
			v.Elem().Field(i).SetString(str)
		case KindMinutes:
			n, err := parseMinutes(raw)
			if err != nil {
				return nil, fail(CodeInvalidField, name, f.Name, err.Error())
			}
			v.Elem().Field(i).SetInt(int64(n))
		}
	}
	for _, req := range o.Required {
		raw := pr.raw(req)
		if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
			return nil, fail(CodeMissingField, name, req, "")
		}
	}
	return &Request{Subject: s, Order: o, Payload: v.Interface()}, nil
}

// probeType is a struct type with one json.RawMessage field per field name
// of the contract, built once from the table.
type probeType struct {
	typ   reflect.Type
	index map[string]int
}

func newProbeType(payloads []*Payload) *probeType {
	p := &probeType{index: map[string]int{}}
	var fields []reflect.StructField
	for _, pl := range payloads {
		for _, f := range pl.Fields {
			if _, ok := p.index[f.Name]; ok {
				continue
			}
			p.index[f.Name] = len(fields)
			fields = append(fields, reflect.StructField{
				Name: fmt.Sprintf("F%d", len(fields)),
				Type: reflect.TypeFor[json.RawMessage](),
				Tag:  reflect.StructTag(`json:"` + f.Name + `"`),
			})
		}
	}
	p.typ = reflect.StructOf(fields)
	return p
}

type probe struct {
	t   *probeType
	v   reflect.Value
	ptr any
}

func (p *probeType) new() probe {
	v := reflect.New(p.typ)
	return probe{t: p, v: v.Elem(), ptr: v.Interface()}
}

func (p probe) raw(name string) json.RawMessage {
	i, ok := p.t.index[name]
	if !ok {
		return nil
	}
	return p.v.Field(i).Bytes()
}

// unquote decodes a JSON string; ok is false when raw is not one.
func unquote(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
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
