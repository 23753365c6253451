package provider

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/netguard"
)

// InvokeKeySecret is the secret holding the invocation key, as stack.yml
// names it.
const InvokeKeySecret = "caliopen-invoke-key"

// Refusal is a deployment setting the provider refuses, and why.
type Refusal struct {
	// Name is the setting's name, or a prefix of names when it ends
	// with "_".
	Name string
	// Allowed, when set, accepts the values that are harmless.
	Allowed func(value string) bool
	// Reason is said to whoever deploys.
	Reason string
}

func (r Refusal) refuses(name, value string) bool {
	hit := name == r.Name || strings.HasSuffix(r.Name, "_") && strings.HasPrefix(name, r.Name)
	return hit && (r.Allowed == nil || !r.Allowed(value))
}

// Refused are the settings a deployment may not carry: each would switch a
// protection of the system off, or is one the provider would not apply.
// A deployment carrying one is refused with 400 naming it and the reason.
var Refused = []Refusal{
	{Name: "LD_", Reason: "it changes what the process loads"},
	{Name: invokeauth.EnvInsecure, Allowed: isFalse,
		Reason: "it lets the function take calls nobody signed; the connector signs every call"},
	{Name: invokeauth.EnvKey,
		Reason: "the invocation key is the secret " + InvokeKeySecret + ", not a setting"},
	{Name: invokeauth.EnvKey + "_FILE", Allowed: func(v string) bool { return v == SecretsMount+InvokeKeySecret },
		Reason: "the invocation key is the secret " + InvokeKeySecret + ", read from " + SecretsMount + InvokeKeySecret},
	// functions/key-action's EnvAllowPrivate (a function's package, above
	// this one in the layers).
	{Name: "CALIOPEN_KEYS_ALLOW_PRIVATE", Allowed: isFalse,
		Reason: "it lets key lookups that other people's domains drive reach private and loopback addresses"},
	{Name: netguard.EnvAllow,
		Reason: "the egress allow list is the operator's, given to the whole system, not to one deployment"},
	{Name: "port", Reason: "the provider chooses each replica's port"},
}

// isFalse accepts a switch left off.
func isFalse(v string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	return strings.TrimSpace(v) == "" || err == nil && !b
}

// refusals names the settings of env the provider refuses, each with why.
func refusals(env map[string]string) []string {
	var out []string
	for k, v := range env {
		for _, r := range Refused {
			if r.refuses(k, v) {
				out = append(out, fmt.Sprintf("setting %s is refused: %s", k, r.Reason))
				break
			}
		}
	}
	return out
}

// redacted hides a secret's value (a setting named like one that is not a
// file's name) and the password of a URL (a store DSN): describe shows
// what a replica runs, not its credentials.
func redacted(name, v string) string {
	if !strings.HasSuffix(name, "_FILE") && v != "" {
		for _, s := range []string{"PASSWORD", "SECRET", "TOKEN", "_KEY", "_KEYS"} {
			if strings.Contains(name, s) && (s[0] != '_' || strings.HasSuffix(name, s)) {
				return "xxxxx"
			}
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, ok := u.User.Password(); !ok {
		return v
	}
	return u.Redacted()
}
