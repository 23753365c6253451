// Package natsusers is the table of the system's NATS users, least
// privilege per subject: one user per component (the connector, the SMTP
// listener, the scheduler, each function) and the operator's, each with the
// subjects it may publish and subscribe to. The cluster's nats.conf is
// generated from it (package deploy), and the local system's embedded
// server authenticates its clients with it (package system).
package natsusers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caliopen/functions/internal/contract"
)

// The connector's JetStream names, as its defaults (connector.DefaultConfig)
// and the manifests under infra/ set them.
const (
	Stream        = "CALIOPEN_ORDERS"
	HandoffPrefix = "caliopen.handoff"
	DLQPrefix     = "caliopen.dlq"
)

// The NATS users of the pods under infra/k8s/base; every function of
// stack.yml is a user of its own name.
const (
	Connector    = "connector"
	SMTPListener = "smtp-listener"
	Scheduler    = "scheduler"
	// Operator is the operator's command line (cmd/caliopen): it
	// sends any order and reads the dead letters.
	Operator = "operator"
)

// User is one NATS client identity and what it may do: publish (and so
// request) on Publish, subscribe to Subscribe ("subject" or "subject queue"),
// answer the requests it receives when Responses is set.
type User struct {
	Name      string
	Publish   []string
	Subscribe []string
	Responses bool
}

// InboxPrefix is the user's NATS_INBOX_PREFIX: its replies, and only its,
// arrive under it.
func (u User) InboxPrefix() string { return InboxPrefixOf(u.Name) }

// PasswordEnv is the variable of the NATS server's environment (and the key
// of the Secret caliopen-nats-auth) holding the user's password.
func (u User) PasswordEnv() string { return PasswordEnvOf(u.Name) }

// InboxPrefixOf is the inbox prefix of user name.
func InboxPrefixOf(name string) string { return "_INBOX_" + name }

// PasswordEnvOf is the password variable of user name.
func PasswordEnvOf(name string) string {
	return "NATS_PASSWORD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// sends lists, for the pods that are not functions, the subjects each
// publishes or requests on NATS itself (internal/emit: Publish, Request,
// PublishOrder), as its code does. A function's row is in its registry
// entry (package functions: Spec.Sends, Spec.Outbox).
var sends = map[string][]string{
	SMTPListener: {contract.SubjectInboundSMTP},
	// sync on IMAPfetcher (publish), twitter_dm and mastodon_dm (request).
	Scheduler: {contract.SubjectIMAPFetcher, contract.SubjectTwitterDM, contract.SubjectMastodonDM},
}

// Function is a function's row of the table: the subjects it publishes or
// requests on NATS itself, and those of the orders it stores in the
// outbox (emit.Order, store.Order), which it publishes itself and so does
// every outbox relay, the scheduler's included (it publishes whatever a
// stopped function process left there).
type Function struct {
	Name          string
	Sends, Outbox []string
}

// Users returns the NATS users of the system, least privilege per
// subject: the connector alone subscribes to the contract's subjects and
// consumes the order stream (through the JetStream API of its two streams
// only), and answers requests; every other component publishes or requests
// on the subjects it sends, and subscribes only to its own inbox. fns are
// the functions' rows, one per function of the registry.
func Users(c *contract.Contract, fns []Function) ([]User, error) {
	rows := []Function{{Name: SMTPListener, Sends: sends[SMTPListener]}, {Name: Scheduler, Sends: sends[Scheduler]}}
	var relayed []string
	for _, f := range fns {
		relayed = append(relayed, f.Outbox...)
	}
	users := []User{ConnectorUser(c), OperatorUser(c)}
	var errs []string
	seen := map[string]bool{}
	for _, f := range append(rows, fns...) {
		if f.Name == "" || seen[f.Name] || f.Name == Connector || f.Name == Operator {
			errs = append(errs, fmt.Sprintf("%q: not a name of its own", f.Name))
			continue
		}
		seen[f.Name] = true
		pub := append(slices.Clone(f.Sends), f.Outbox...)
		if f.Name == Scheduler {
			pub = append(pub, relayed...)
		}
		for _, s := range pub {
			if _, ok := c.Subject(s); !ok {
				errs = append(errs, fmt.Sprintf("%s: subject %s is not the contract's", f.Name, s))
			}
		}
		slices.Sort(pub)
		users = append(users, User{Name: f.Name, Publish: slices.Compact(pub),
			Subscribe: []string{InboxPrefixOf(f.Name) + ".>"}})
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("nats users: %s", strings.Join(errs, "; "))
	}
	return users, nil
}

// ConnectorUser is the connector's user, derived from the contract: it
// subscribes to each request/reply subject in its queue group, hands orders
// off and dead-letters them, declares and consumes its streams, acks their
// messages, and answers requesters.
func ConnectorUser(c *contract.Contract) User {
	js := "$JS.API."
	dlq := Stream + "_DLQ"
	pub := []string{
		js + "STREAM.CREATE." + Stream, js + "STREAM.UPDATE." + Stream,
		js + "STREAM.CREATE." + dlq, js + "STREAM.UPDATE." + dlq,
		js + "CONSUMER.CREATE." + Stream + ".>", js + "CONSUMER.INFO." + Stream + ".>",
		js + "CONSUMER.MSG.NEXT." + Stream + ".>",
		"$JS.ACK." + Stream + ".>",
	}
	var sub []string
	for _, s := range c.Subjects {
		if s.HasRequests() {
			sub = append(sub, s.Name+" "+s.Queue)
			pub = append(pub, HandoffPrefix+"."+s.Name)
		}
		pub = append(pub, DLQPrefix+"."+s.Name)
	}
	sub = append(sub, InboxPrefixOf(Connector)+".>")
	return User{Name: Connector, Publish: pub, Subscribe: sub, Responses: true}
}

// OperatorUser is the operator's user: it sends orders on every subject of
// the contract, watches them go by (a plain subscription, as `nats sub`
// does: it sees each order, takes none from the connector's queue groups
// or consumers), reads every stream's state (its size, against its
// limits) and the dead-letter stream through an ordered consumer, but
// cannot consume the order stream. Whoever holds its
// password holds the system's data already (the data directory, the
// cluster's secrets): watching is no more than that.
func OperatorUser(c *contract.Contract) User {
	js := "$JS.API."
	dlq := Stream + "_DLQ"
	pub := []string{js + "STREAM.INFO.*", js + "CONSUMER.CREATE." + dlq + ".>", js + "CONSUMER.INFO." + dlq + ".>",
		js + "CONSUMER.MSG.NEXT." + dlq + ".>", js + "CONSUMER.DELETE." + dlq + ".>"}
	sub := []string{InboxPrefixOf(Operator) + ".>", DLQPrefix + ".>"}
	for _, s := range c.Subjects {
		pub = append(pub, s.Name)
		sub = append(sub, s.Name)
	}
	return User{Name: Operator, Publish: pub, Subscribe: sub}
}
