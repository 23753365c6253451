// Package contract holds Caliopen's NATS wire contract as data: every
// subject, its queue group, its mode, the orders it carries with their payload
// type and exact JSON field names, who emits them, which function handles them
// and the shape of the reply. It is copied from the seed
// (caliopen-messaging-system.txt) and is the single source for the connector's
// subscriptions, the functions' validation, stack.yml's topic annotations and
// the documentation table.
//
// Decoding an order never panics and never guesses: bad JSON, an unknown
// order, a missing field, a field of the wrong type or a field given twice
// with different values each give a *ValidationError that names the
// problem. Decoding also accepts the names the original Caliopen code
// really sent for some orders and fields (Order.Aliases, Field.Aliases) and
// turns them into the seed's, so that what is emitted stays the seed's form.
package contract

import (
	"fmt"
	"reflect"
	"sort"
	"time"
)

// Mode says how an order travels.
type Mode string

// The modes of the seed.
const (
	RequestReply Mode = "request/reply"
	PubSub       Mode = "publish/subscribe"
)

// ReplyKind names the shape of the reply a request/reply order gets.
type ReplyKind string

// The reply shapes (design §2).
const (
	NoReply      ReplyKind = ""
	ReplyDeliver ReplyKind = "DeliverReply"
	ReplyInbound ReplyKind = "InboundReply"
)

// FieldKind is the JSON type a payload field must have.
type FieldKind string

// Field kinds.
const (
	KindString  FieldKind = "string"
	KindMinutes FieldKind = "minutes" // a string or number holding whole minutes
)

// Field is one JSON field of a payload.
type Field struct {
	Name string
	Kind FieldKind
	// Aliases are the other keys the field arrives under: the ones the
	// original Caliopen code really sent (caliopen-original.md §0, §1.2, §2).
	// Decoding accepts them; encoding writes Name only.
	Aliases []string

	slots []int // the probe's fields for Name then each alias
}

// Payload is one payload type: its Go type name and its fields in seed order.
type Payload struct {
	Name   string
	Fields []Field
	goType reflect.Type
}

// New returns a pointer to a zero value of the payload's Go type.
func (p *Payload) New() any { return reflect.New(p.goType).Interface() }

// Field returns the named field and whether the payload has it.
func (p *Payload) Field(name string) (Field, bool) {
	for _, f := range p.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Emitter is a seed function that sends an order.
type Emitter struct {
	Service  string // seed service, e.g. "apiv2"
	Function string // seed function, e.g. "REST.SendDraft"
	Payload  *Payload
	// Fields are the fields the emitter sends, in order (a subset of the payload's).
	Fields []string
}

// Order is one order on one subject.
type Order struct {
	Name    string
	Mode    Mode
	Payload *Payload
	// Required fields must be present and non-empty strings.
	Required []string
	// Handler is the seed handler that the function replaces.
	Handler  string
	Emitters []Emitter
	// Reply is the reply shape for request/reply orders.
	Reply ReplyKind
	// Extra marks an order the seed emits but no seed handler handles
	// (design §2: we handle it anyway).
	Extra bool
	// Aliases are the names the original Caliopen code gave the order on
	// the wire (process_raw for process_inbound). Decoding accepts them and
	// gives the order its seed name.
	Aliases []string
}

// Subject is one NATS subject of the contract.
type Subject struct {
	Name  string
	Queue string
	// Function is the function that handles the subject (design §3).
	Function string
	Orders   []Order
	// Deadline is the requester's deadline for request/reply orders
	// (caliopen-original.md §1.1): the reply must arrive before it.
	Deadline time.Duration

	probe *probeType
}

// Order returns the named order and whether the subject carries it.
func (s *Subject) Order(name string) (*Order, bool) {
	for i := range s.Orders {
		if s.Orders[i].Name == name {
			return &s.Orders[i], true
		}
	}
	return nil, false
}

// orderNamed returns the order whose name or alias is name.
func (s *Subject) orderNamed(name string) (*Order, bool) {
	if o, ok := s.Order(name); ok {
		return o, true
	}
	for i := range s.Orders {
		for _, a := range s.Orders[i].Aliases {
			if a == name {
				return &s.Orders[i], true
			}
		}
	}
	return nil, false
}

// OrderNames lists the subject's orders in table order.
func (s *Subject) OrderNames() []string {
	out := make([]string, len(s.Orders))
	for i, o := range s.Orders {
		out[i] = o.Name
	}
	return out
}

// Mode is RequestReply or PubSub when all orders share it, or "mixed".
func (s *Subject) Mode() Mode {
	m := s.Orders[0].Mode
	for _, o := range s.Orders[1:] {
		if o.Mode != m {
			return "mixed"
		}
	}
	return m
}

// HasRequests says whether some order of the subject is request/reply.
func (s *Subject) HasRequests() bool {
	for _, o := range s.Orders {
		if o.Mode == RequestReply {
			return true
		}
	}
	return false
}

// HasPublishes says whether some order of the subject is publish/subscribe.
func (s *Subject) HasPublishes() bool {
	for _, o := range s.Orders {
		if o.Mode == PubSub {
			return true
		}
	}
	return false
}

// Reply is the reply shape of the subject's request/reply orders (they share
// one on every subject of the seed), or NoReply.
func (s *Subject) Reply() ReplyKind {
	for _, o := range s.Orders {
		if o.Mode == RequestReply {
			return o.Reply
		}
	}
	return NoReply
}

// Contract is the whole table.
type Contract struct {
	Subjects []Subject
	Payloads []*Payload
}

// Subject returns the named subject and whether the contract has it.
func (c *Contract) Subject(name string) (*Subject, bool) {
	for i := range c.Subjects {
		if c.Subjects[i].Name == name {
			return &c.Subjects[i], true
		}
	}
	return nil, false
}

// Functions lists every function named by the contract, sorted.
func (c *Contract) Functions() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range c.Subjects {
		if !seen[s.Function] {
			seen[s.Function] = true
			out = append(out, s.Function)
		}
	}
	sort.Strings(out)
	return out
}

// SubjectsOf lists the subjects a function handles.
func (c *Contract) SubjectsOf(function string) []*Subject {
	var out []*Subject
	for i := range c.Subjects {
		if c.Subjects[i].Function == function {
			out = append(out, &c.Subjects[i])
		}
	}
	return out
}

// payload describes the Go type of v: one field per JSON tag, of the kind
// kinds names (string by default), accepted also under aliases[tag].
func payload(name string, v any, kinds map[string]FieldKind, aliases map[string][]string) *Payload {
	t := reflect.TypeOf(v)
	p := &Payload{Name: name, goType: t}
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("json")
		for j := 0; j < len(tag); j++ {
			if tag[j] == ',' {
				tag = tag[:j]
				break
			}
		}
		k := KindString
		if kk, ok := kinds[tag]; ok {
			k = kk
		}
		p.Fields = append(p.Fields, Field{Name: tag, Kind: k, Aliases: aliases[tag]})
	}
	return p
}

func fieldNames(p *Payload) []string {
	out := make([]string, len(p.Fields))
	for i, f := range p.Fields {
		out[i] = f.Name
	}
	return out
}

func (o Order) String() string { return fmt.Sprintf("%s (%s)", o.Name, o.Mode) }
