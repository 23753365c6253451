package deploy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/natsusers"
)

// The connector's JetStream names, as its defaults (connector.DefaultConfig)
// and the manifests under infra/ set them.
const (
	NATSStream        = natsusers.Stream
	NATSHandoffPrefix = natsusers.HandoffPrefix
	NATSDLQPrefix     = natsusers.DLQPrefix
)

// The NATS users of the pods under infra/k8s/base; every function of
// stack.yml is a user of its own name. The table lives in
// internal/natsusers, which the local system reads too.
const (
	NATSUserConnector    = natsusers.Connector
	NATSUserSMTPListener = natsusers.SMTPListener
	NATSUserScheduler    = natsusers.Scheduler
	NATSUserOperator     = natsusers.Operator
)

// NATSUser is one NATS client identity and what it may do (natsusers.User).
type NATSUser = natsusers.User

// InboxPrefixOf is the inbox prefix of user name.
func InboxPrefixOf(name string) string { return natsusers.InboxPrefixOf(name) }

// PasswordEnvOf is the password variable of user name.
func PasswordEnvOf(name string) string { return natsusers.PasswordEnvOf(name) }

// NATSSecretOf is the OpenFaaS (or Knative) secret holding the NATS
// password of function fn.
func NATSSecretOf(fn string) string { return "caliopen-nats-" + fn }

// NATSUsers returns the NATS users of the system (natsusers.Users):
// functions are the names of stack.yml's functions.
func NATSUsers(c *contract.Contract, functions []string) ([]NATSUser, error) {
	return natsusers.Users(c, functions)
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
