package deploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caliopen/functions/internal/contract"
)

// The connector's JetStream names, as its defaults (connector.DefaultConfig)
// and the manifests under infra/ set them.
const (
	NATSStream        = "CALIOPEN_ORDERS"
	NATSHandoffPrefix = "caliopen.handoff"
	NATSDLQPrefix     = "caliopen.dlq"
)

// The NATS users of the pods under infra/k8s/base; every function of
// stack.yml is a user of its own name.
const (
	NATSUserConnector    = "connector"
	NATSUserSMTPListener = "smtp-listener"
	NATSUserScheduler    = "scheduler"
	// NATSUserOperator is the operator's command line (cmd/caliopen): it
	// sends any order and reads the dead letters.
	NATSUserOperator = "operator"
)

// NATSUser is one NATS client identity and what it may do: publish (and so
// request) on Publish, subscribe to Subscribe ("subject" or "subject queue"),
// answer the requests it receives when Responses is set.
type NATSUser struct {
	Name      string
	Publish   []string
	Subscribe []string
	Responses bool
}

// InboxPrefix is the user's NATS_INBOX_PREFIX: its replies, and only its,
// arrive under it.
func (u NATSUser) InboxPrefix() string { return InboxPrefixOf(u.Name) }

// PasswordEnv is the variable of the NATS server's environment (and the key
// of the Secret caliopen-nats-auth) holding the user's password.
func (u NATSUser) PasswordEnv() string { return PasswordEnvOf(u.Name) }

// InboxPrefixOf is the inbox prefix of user name.
func InboxPrefixOf(name string) string { return "_INBOX_" + name }

// PasswordEnvOf is the password variable of user name.
func PasswordEnvOf(name string) string {
	return "NATS_PASSWORD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// NATSSecretOf is the OpenFaaS (or Knative) secret holding the NATS
// password of function fn.
func NATSSecretOf(fn string) string { return "caliopen-nats-" + fn }

// natsSends lists, for each component, the subjects it publishes or
// requests on NATS itself (internal/emit: Publish, Request, PublishOrder),
// as its code does: the subjects a function, the listener or the scheduler
// passes to its emitter.
var natsSends = map[string][]string{
	"api": {contract.SubjectOutboundSMTP, contract.SubjectOutboundIMAP, contract.SubjectTwitterDM},
	// deliver to hosted recipients: process_inbound (emit.ProcessInbound).
	"smtp-deliver":      {contract.SubjectInboundSMTP},
	"inbound-email":     nil,
	"identities-orders": nil,
	"imap-worker":       nil,
	// process_inbound per message, the follow-up sync, update_interval.
	"imap-fetch":     {contract.SubjectInboundSMTP, contract.SubjectIMAPFetcher, contract.SubjectIdentitiesWorker},
	"imap-deliver":   {contract.SubjectOutboundSMTP},
	"twitter-worker": nil,
	// the follow-up sync, process_inbound per event, update_interval.
	"twitter-dm":      {contract.SubjectTwitterDM, contract.SubjectInboundTwitter, contract.SubjectIdentitiesWorker},
	"inbound-twitter": nil,
	"contact-action":  nil,
	// contact_update once a key is found.
	"key-action":         {contract.SubjectContactAction},
	NATSUserSMTPListener: {contract.SubjectInboundSMTP},
	// sync on IMAPfetcher (publish) and twitter_dm (request).
	NATSUserScheduler: {contract.SubjectIMAPFetcher, contract.SubjectTwitterDM},
}

// natsOutbox lists the subjects of the orders a component stores in the
// outbox (emit.Order, store.Order): it publishes them itself, and so does
// every outbox relay, the scheduler's included, which publishes whatever a
// stopped function process left there.
var natsOutbox = map[string][]string{
	"api": {contract.SubjectContactAction, contract.SubjectKeyAction, contract.SubjectIdentitiesWorker},
}

// NATSUsers returns the NATS users of the system, least privilege per
// subject: the connector alone subscribes to the contract's subjects and
// consumes the order stream (through the JetStream API of its two streams
// only), and answers requests; every other component publishes or requests
// on the subjects it sends, and subscribes only to its own inbox. functions
// are the names of stack.yml's functions; each must be in the table above.
func NATSUsers(c *contract.Contract, functions []string) ([]NATSUser, error) {
	relayed := []string{}
	for _, subs := range natsOutbox {
		relayed = append(relayed, subs...)
	}
	names := append([]string{NATSUserSMTPListener, NATSUserScheduler}, functions...)
	users := []NATSUser{connectorUser(c), operatorUser(c)}
	var errs []string
	for _, name := range names {
		sends, ok := natsSends[name]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: no entry in the NATS table (deploy/natsauth.go)", name))
			continue
		}
		pub := append(slices.Clone(sends), natsOutbox[name]...)
		if name == NATSUserScheduler {
			pub = append(pub, relayed...)
		}
		for _, s := range pub {
			if _, ok := c.Subject(s); !ok {
				errs = append(errs, fmt.Sprintf("%s: subject %s is not the contract's", name, s))
			}
		}
		slices.Sort(pub)
		users = append(users, NATSUser{Name: name, Publish: slices.Compact(pub),
			Subscribe: []string{InboxPrefixOf(name) + ".>"}})
	}
	for name := range natsSends {
		if name != NATSUserSMTPListener && name != NATSUserScheduler && !slices.Contains(functions, name) {
			errs = append(errs, fmt.Sprintf("%s: in the NATS table but not a function of the stack", name))
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("nats users: %s", strings.Join(errs, "; "))
	}
	return users, nil
}

// connectorUser is the connector's user, derived from the contract: it
// subscribes to each request/reply subject in its queue group, hands orders
// off and dead-letters them, declares and consumes its streams, acks their
// messages, and answers requesters.
func connectorUser(c *contract.Contract) NATSUser {
	js := "$JS.API."
	dlq := NATSStream + "_DLQ"
	pub := []string{
		js + "STREAM.CREATE." + NATSStream, js + "STREAM.UPDATE." + NATSStream,
		js + "STREAM.CREATE." + dlq, js + "STREAM.UPDATE." + dlq,
		js + "CONSUMER.CREATE." + NATSStream + ".>", js + "CONSUMER.INFO." + NATSStream + ".>",
		js + "CONSUMER.MSG.NEXT." + NATSStream + ".>",
		"$JS.ACK." + NATSStream + ".>",
	}
	var sub []string
	for _, s := range c.Subjects {
		if s.HasRequests() {
			sub = append(sub, s.Name+" "+s.Queue)
			pub = append(pub, NATSHandoffPrefix+"."+s.Name)
		}
		pub = append(pub, NATSDLQPrefix+"."+s.Name)
	}
	sub = append(sub, InboxPrefixOf(NATSUserConnector)+".>")
	return NATSUser{Name: NATSUserConnector, Publish: pub, Subscribe: sub, Responses: true}
}

// operatorUser is the operator's user: it sends orders on every subject of
// the contract and reads the dead-letter stream through an ordered
// consumer, but cannot consume the order stream.
func operatorUser(c *contract.Contract) NATSUser {
	js := "$JS.API."
	dlq := NATSStream + "_DLQ"
	pub := []string{js + "STREAM.INFO." + dlq, js + "CONSUMER.CREATE." + dlq + ".>", js + "CONSUMER.INFO." + dlq + ".>",
		js + "CONSUMER.MSG.NEXT." + dlq + ".>", js + "CONSUMER.DELETE." + dlq + ".>"}
	for _, s := range c.Subjects {
		pub = append(pub, s.Name)
	}
	return NATSUser{Name: NATSUserOperator, Publish: pub, Subscribe: []string{InboxPrefixOf(NATSUserOperator) + ".>"}}
}

// NATSAuthorization renders the users as the authorization block of
// nats.conf: each password is the server's environment variable
// PasswordEnv, so the configuration holds no secret. A user with nothing
// to publish is denied every subject.
func NATSAuthorization(users []NATSUser) string {
	var b strings.Builder
	list := func(key string, subjects []string) {
		if len(subjects) == 0 {
			fmt.Fprintf(&b, "        %s: { deny: [\">\"] }\n", key)
			return
		}
		fmt.Fprintf(&b, "        %s: {\n          allow: [\n", key)
		for _, s := range subjects {
			fmt.Fprintf(&b, "            %s\n", strconv.Quote(s))
		}
		b.WriteString("          ]\n        }\n")
	}
	b.WriteString("authorization {\n  users: [\n")
	for _, u := range users {
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: $%s\n      permissions: {\n", strconv.Quote(u.Name), u.PasswordEnv())
		list("publish", u.Publish)
		list("subscribe", u.Subscribe)
		if u.Responses {
			b.WriteString("        allow_responses: true\n")
		}
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}
