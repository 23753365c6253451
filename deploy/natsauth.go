package deploy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caliopen/functions/functions"
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
// functions are names of the registry's functions, whose entries give
// their rows.
func NATSUsers(c *contract.Contract, functions []string) ([]NATSUser, error) {
	specs, err := registrySpecs(functions)
	if err != nil {
		return nil, err
	}
	return NATSUsersOf(c, specs)
}

// NATSUsersOf returns the NATS users of a system serving specs.
func NATSUsersOf(c *contract.Contract, specs []functions.Spec) ([]NATSUser, error) {
	var rows []natsusers.Function
	for _, s := range specs {
		rows = append(rows, s.NATS())
	}
	return natsusers.Users(c, rows)
}

// registrySpecs returns the registry's entries of names, in order.
func registrySpecs(names []string) ([]functions.Spec, error) {
	var specs []functions.Spec
	var errs []error
	for _, name := range names {
		s, ok := functions.Lookup(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not a function of the registry (functions.All)", name))
			continue
		}
		specs = append(specs, s)
	}
	return specs, errors.Join(errs...)
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
