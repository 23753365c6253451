package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
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
	Field   string // the missing or malformed field, if any (the key as sent when malformed)
	// Conflict names the two keys, when a field was given under both (its
	// seed name and an alias, or two aliases) with different values.
	Conflict []string
	Detail   string
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
		if e.Conflict != nil {
			b.WriteString(e.conflict())
			break
		}
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
		if e.Conflict != nil {
			return e.conflict()
		}
		msg := fmt.Sprintf("malformed field %q in order %q on %s", e.Field, e.Order, e.Subject)
		if want, _, _ := strings.Cut(e.Detail, ", got "); strings.HasPrefix(want, "want ") {
			msg += ": " + want
		}
		return msg
	}
	return e.Error()
}

// conflict words a field given twice with different values; it names the
// keys, never the values.
func (e *ValidationError) conflict() string {
	return fmt.Sprintf("conflicting values for field %q in order %q on %s: given as %q and as %q", e.Field, e.Order, e.Subject, e.Conflict[0], e.Conflict[1])
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
// the JSON once, into a probe holding the raw value of every key the
// contract knows, seed names and aliases; other keys match
// case-insensitively, as encoding/json does.
//
// A field may arrive under its seed name or one of its aliases (the original
// Caliopen's keys), and an order under its name or one of its aliases: the
// request holds the seed's order and the seed's payload either way, so what
// is emitted from it is the seed's form. Absent, null, "" and 0 minutes all
// mean not given. A field given under two keys with different values is
// refused (CodeInvalidField, naming both keys): no rule could say which one
// the sender meant.
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
	name, given, err := pr.value(&s.probe.order, s.Name, "")
	if err != nil {
		return nil, err
	}
	if !given {
		return nil, fail(CodeMissingField, "", "order", "")
	}
	o, ok := s.orderNamed(name.str)
	if !ok {
		return nil, fail(CodeUnknownOrder, name.str, "", "want one of "+strings.Join(s.OrderNames(), ", "))
	}
	// Type-check every known field that is given, in payload order, so the
	// first problem named is stable, and fill the typed payload.
	v := reflect.New(o.Payload.goType)
	var present uint64
	for i := range o.Payload.Fields {
		f := &o.Payload.Fields[i]
		val, given, err := pr.value(f, s.Name, o.Name)
		if err != nil {
			return nil, err
		}
		if !given {
			continue
		}
		present |= 1 << i
		switch {
		case f.Name == "order":
			v.Elem().Field(i).SetString(o.Name)
		case f.Kind == KindMinutes:
			v.Elem().Field(i).SetInt(int64(val.n))
		default:
			v.Elem().Field(i).SetString(val.str)
		}
	}
	for _, req := range o.Required {
		if i := o.Payload.index(req); i < 0 || present&(1<<i) == 0 {
			return nil, fail(CodeMissingField, o.Name, req, "")
		}
	}
	return &Request{Subject: s, Order: o, Payload: v.Interface()}, nil
}

// index is the position of the named field in the payload, or -1.
func (p *Payload) index(name string) int {
	for i := range p.Fields {
		if p.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// probeType is a struct type with one json.RawMessage field per key the
// contract knows (every field's name and aliases), built once from the
// table. It sets each Field's slots, and describes the order key.
type probeType struct {
	typ   reflect.Type
	order Field // "order" and the aliases any payload gives it
}

func newProbeType(payloads []*Payload) *probeType {
	p := &probeType{order: Field{Name: "order", Kind: KindString}}
	var fields []reflect.StructField
	index := map[string]int{}
	slot := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		i := len(fields)
		index[name] = i
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: reflect.TypeFor[json.RawMessage](),
			Tag:  reflect.StructTag(`json:"` + name + `"`),
		})
		return i
	}
	for _, pl := range payloads {
		for i := range pl.Fields {
			f := &pl.Fields[i]
			f.slots = []int{slot(f.Name)}
			for _, a := range f.Aliases {
				f.slots = append(f.slots, slot(a))
			}
			if f.Name == "order" {
				for _, a := range f.Aliases {
					if !slices.Contains(p.order.Aliases, a) {
						p.order.Aliases = append(p.order.Aliases, a)
					}
				}
			}
		}
	}
	p.order.slots = []int{slot("order")}
	for _, a := range p.order.Aliases {
		p.order.slots = append(p.order.slots, slot(a))
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

// fieldValue is a field's decoded value: str for a string, n for minutes.
type fieldValue struct {
	str string
	n   int
}

// value decodes field f from whichever of its keys are given. It fails when
// a given key holds a value of the wrong type, or when two keys hold
// different values.
func (p probe) value(f *Field, subject, order string) (val fieldValue, given bool, err error) {
	var from string
	for j, slot := range f.slots {
		raw := json.RawMessage(p.v.Field(slot).Bytes())
		if len(raw) == 0 || string(raw) == "null" || string(raw) == `""` {
			continue
		}
		key := f.Name
		if j > 0 {
			key = f.Aliases[j-1]
		}
		var got fieldValue
		switch f.Kind {
		case KindString:
			str, ok := unquote(raw)
			if !ok {
				return val, false, &ValidationError{Code: CodeInvalidField, Subject: subject, Order: order, Field: key, Detail: "want a string, got " + jsonKind(raw)}
			}
			got.str = str
		case KindMinutes:
			n, err := parseMinutes(raw)
			if err != nil {
				return val, false, &ValidationError{Code: CodeInvalidField, Subject: subject, Order: order, Field: key, Detail: err.Error()}
			}
			if n == 0 {
				continue // encoded, 0 is omitted: it means not given
			}
			got.n = n
		}
		if !given {
			val, given, from = got, true, key
			continue
		}
		if got != val {
			return val, false, &ValidationError{Code: CodeInvalidField, Subject: subject, Order: order, Field: f.Name, Conflict: []string{from, key}}
		}
	}
	return val, given, nil
}

// unquote decodes a JSON string; ok is false when raw is not one.
func unquote(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	// Without escapes the bytes are the string, when they are valid UTF-8;
	// otherwise encoding/json decodes it (invalid bytes become U+FFFD, as
	// they do when the payload is encoded again).
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
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
