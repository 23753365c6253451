// Package functions is the explicit list of the project's functions. The
// function image's entrypoint (cmd/function), the local system
// (cmd/caliopen-local) and the stack.yml test all read it; a function exists
// when it is listed here.
//
// To add one: create functions/<name>/ with a New constructor returning an
// fnhttp.Core (a NATS-triggered function) or an http.Handler (an HTTP
// function such as the API), add a Spec below, then run make generate: it
// writes the function's stack.yml entry, NATS user, password and Knative
// Service from its Spec (package deploy). The subjects of a NATS-triggered
// function come from the contract.
package functions

import (
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/functions/api"
	contactaction "github.com/caliopen/functions/functions/contact-action"
	identitiesorders "github.com/caliopen/functions/functions/identities-orders"
	imapdeliver "github.com/caliopen/functions/functions/imap-deliver"
	imapfetch "github.com/caliopen/functions/functions/imap-fetch"
	imapworker "github.com/caliopen/functions/functions/imap-worker"
	inboundemail "github.com/caliopen/functions/functions/inbound-email"
	inboundmastodon "github.com/caliopen/functions/functions/inbound-mastodon"
	inboundtwitter "github.com/caliopen/functions/functions/inbound-twitter"
	keyaction "github.com/caliopen/functions/functions/key-action"
	mastodondm "github.com/caliopen/functions/functions/mastodon-dm"
	smtpdeliver "github.com/caliopen/functions/functions/smtp-deliver"
	twitterdm "github.com/caliopen/functions/functions/twitter-dm"
	twitterworker "github.com/caliopen/functions/functions/twitter-worker"
	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/emit"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsusers"
	"github.com/caliopen/functions/internal/oauth2creds"
	"github.com/caliopen/functions/internal/secrets"
	"github.com/caliopen/functions/internal/store"
)

// Env is what a function's builder receives: configuration and shared
// dependencies, passed explicitly. Every field is set.
type Env struct {
	// Getenv reads the function's configuration.
	Getenv func(string) string
	// Logger is the process logger; builders bind "fn" themselves.
	Logger *slog.Logger
	// Contract is the wire contract.
	Contract *contract.Contract
	// Store holds the records.
	Store *store.SQL
	// Blobs holds raw messages, attachments and sent copies.
	Blobs blob.Store
	// Emitter sends orders on NATS.
	Emitter *emit.Emitter
	// Keyring seals and opens remote-account credentials.
	Keyring *secrets.Keyring
	// InvokeKeys check that the connector signed each invocation of a
	// NATS-triggered function (package invokeauth). Nil checks nothing:
	// development only.
	InvokeKeys *invokeauth.Keys
	// Tracing records the spans of each invocation (package tracing); nil
	// records none.
	Tracing trace.TracerProvider
}

// Spec describes one function. Exactly one of Build and HTTP is set.
type Spec struct {
	// Name is the function's name as in the contract and stack.yml.
	Name string
	// Build constructs the core of a NATS-triggered function; the shared
	// adapter (fnhttp) serves it.
	Build func(env Env) (fnhttp.Core, error)
	// HTTP constructs an HTTP function's handler (no NATS trigger).
	HTTP func(env Env) (http.Handler, error)
	// Orders says the function writes orders to the store's outbox: a
	// process serving it alone also runs an outbox relay.
	Orders bool
	// Sends are the contract's subjects the function publishes or
	// requests on NATS itself (emit.Publish, Request, PublishOrder), and
	// Outbox those of the orders it stores in the outbox: its NATS user
	// may send these and nothing else.
	Sends, Outbox []string
	// Deploy is what its deployment says beyond what every function's
	// does; the zero value suits a function with nothing to add.
	Deploy Deploy
}

// Deploy is what a function's deployment needs beyond its name and the
// contract: `make generate` writes its stack.yml entry, its NATS user and
// password, and its Knative Service from it (package deploy).
type Deploy struct {
	// Comment is the stack.yml entry's comment: what it serves.
	Comment string
	// Timeout is the watchdog's exec_timeout (read and write timeouts are
	// a second longer). Zero: two seconds below the shortest deadline of
	// its request/reply subjects, else ten seconds.
	Timeout time.Duration
	// MaxInflight is the most invocations one replica serves at once (the
	// watchdog's max_inflight); zero: 50.
	MaxInflight int
	// ScaleToZero lets OpenFaaS stop its last replica when idle.
	ScaleToZero bool
	// Env are its own variables, in order; a value may be ${VAR:-default}.
	Env []EnvVar
	// Secrets are the secrets it mounts beyond those of every function
	// (the store's, its NATS password, the invocation key).
	Secrets []string
}

// EnvVar is one variable of a function's environment, with an optional
// comment (its lines are written above it).
type EnvVar struct {
	Name, Value, Comment string
}

// NATS is the function's row of the NATS users' table.
func (s Spec) NATS() natsusers.Function {
	return natsusers.Function{Name: s.Name, Sends: s.Sends, Outbox: s.Outbox}
}

// Handler builds the function's HTTP handler: its own for an HTTP function,
// the shared adapter around its core otherwise.
func (s Spec) Handler(env Env) (http.Handler, error) {
	if s.HTTP != nil {
		return s.HTTP(env)
	}
	core, err := s.Build(env)
	if err != nil {
		return nil, err
	}
	return fnhttp.New(fnhttp.Config{Function: s.Name, Keys: env.InvokeKeys, Tracing: env.Tracing}, env.Contract, core, env.Logger), nil
}

// All lists every function that exists, in contract order; the contract
// names every handler, whether or not a function serves it yet.
func All() []Spec {
	return []Spec{
		{Name: "api", Orders: true,
			Sends:  []string{contract.SubjectOutboundSMTP, contract.SubjectOutboundIMAP, contract.SubjectTwitterDM, contract.SubjectMastodonDM},
			Outbox: []string{contract.SubjectContactAction, contract.SubjectKeyAction, contract.SubjectIdentitiesWorker},
			Deploy: Deploy{Comment: "The REST API (an HTTP function: no topic). exec_timeout leaves room for\n" +
				"a deliver request, which waits up to API_SEND_TIMEOUT (30s).",
				Timeout: 35 * time.Second, MaxInflight: 100, Secrets: []string{secretKeys},
				Env: []EnvVar{
					{Name: "CALIOPEN_LOCAL_DOMAIN", Value: "${CALIOPEN_LOCAL_DOMAIN:-caliopen.local}"},
					{Name: "CALIOPEN_ADMIN_NAME", Value: "admin"},
					{Name: "API_TRUSTED_PROXY_HOPS", Value: "${API_TRUSTED_PROXY_HOPS:-0}",
						Comment: "Login throttling keys on the client address: set the number of\n" +
							"proxies that append to X-Forwarded-For in front of the API (the\n" +
							"ingress, the gateway), so that it sees clients, not the watchdog,\n" +
							"and clients cannot choose their address."},
				}},
			HTTP: func(env Env) (http.Handler, error) {
				cfg, err := api.LoadConfig(env.Getenv)
				if err != nil {
					return nil, err
				}
				return api.New(cfg, api.Deps{Store: env.Store, Blobs: env.Blobs, Emitter: env.Emitter, Sealer: env.Keyring,
					Logger: env.Logger.With("fn", "api"), Tracing: env.Tracing})
			}},
		{Name: "smtp-deliver",
			// deliver to hosted recipients: process_inbound (emit.ProcessInbound).
			Sends: []string{contract.SubjectInboundSMTP},
			Deploy: Deploy{Comment: "deliver on outboundSMTP (request/reply, 30 s requester deadline).",
				Secrets: []string{secretKeys},
				Env: []EnvVar{
					{Name: "SMTP_DELIVER_RELAY_ADDR", Value: "${SMTP_RELAY_ADDR:-}"},
					{Name: "SMTP_DELIVER_RELAY_TLS", Value: "starttls"},
					{Name: "SMTP_DELIVER_RELAY_USER", Value: "${SMTP_RELAY_USER:-}"},
					{Name: "SMTP_DELIVER_RELAY_PASSWORD_FILE", Value: "/var/openfaas/secrets/caliopen-relay-password"},
					{Name: "SMTP_DELIVER_SMTP_TIMEOUT", Value: "25s"},
				}},
			Build: func(env Env) (fnhttp.Core, error) {
				tokens, err := tokens(env)
				if err != nil {
					return nil, err
				}
				return smtpdeliver.Build(env.Getenv, smtpdeliver.Deps{Store: env.Store, Blobs: env.Blobs,
					Keyring: env.Keyring, Tokens: tokens, Requester: env.Emitter, Logger: env.Logger.With("fn", "smtp-deliver")})
			}},
		{Name: "inbound-email",
			Deploy: Deploy{Comment: "process_inbound on inboundSMTP (request/reply, 10 s requester deadline).",
				Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return inboundemail.Build(env.Getenv, inboundemail.Deps{Store: env.Store, Blobs: env.Blobs,
					Logger: env.Logger.With("fn", "inbound-email")})
			}},
		{Name: "identities-orders",
			Deploy: Deploy{Comment: "identitiesWorker orders, and the original's on idCache (publish/subscribe): the polling schedule.",
				ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return identitiesorders.Build(env.Getenv, identitiesorders.Deps{Store: env.Store})
			}},
		{Name: "imap-worker",
			Deploy: Deploy{Comment: "imap_worker orders (publish/subscribe): an account's polling on and off.",
				ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return imapworker.Build(env.Getenv, imapworker.Deps{Store: env.Store})
			}},
		{Name: "imap-fetch",
			// process_inbound per message, the follow-up sync, update_interval.
			Sends: []string{contract.SubjectInboundSMTP, contract.SubjectIMAPFetcher, contract.SubjectIdentitiesWorker},
			Deploy: Deploy{Comment: "sync and fullfetch on IMAPfetcher (publish/subscribe): one bounded batch of an\n" +
				"account's INBOX per invocation, continued by a follow-up sync.",
				Timeout: 58 * time.Second, Secrets: []string{secretKeys},
				Env: []EnvVar{{Name: "IMAP_FETCH_BATCH", Value: "5000"}, {Name: "IMAP_FETCH_BUDGET", Value: "30s"}}},
			Build: func(env Env) (fnhttp.Core, error) {
				tokens, err := tokens(env)
				if err != nil {
					return nil, err
				}
				return imapfetch.Build(env.Getenv, imapfetch.Deps{Store: env.Store, Blobs: env.Blobs,
					Keyring: env.Keyring, Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "imap-fetch")})
			}},
		{Name: "imap-deliver",
			Sends: []string{contract.SubjectOutboundSMTP},
			Deploy: Deploy{Comment: "deliver on outboundIMAP (request/reply, 30 s): sends through outboundSMTP,\n" +
				"then appends the copy to the account's Sent folder.",
				Secrets: []string{secretKeys},
				Env: []EnvVar{
					{Name: "IMAP_DELIVER_SEND_TIMEOUT", Value: "25s"},
					{Name: "IMAP_DELIVER_IMAP_TIMEOUT", Value: "15s"},
				}},
			Build: func(env Env) (fnhttp.Core, error) {
				tokens, err := tokens(env)
				if err != nil {
					return nil, err
				}
				return imapdeliver.Build(env.Getenv, imapdeliver.Deps{Store: env.Store, Blobs: env.Blobs,
					Keyring: env.Keyring, Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "imap-deliver")})
			}},
		{Name: "twitter-worker",
			Deploy: Deploy{Comment: "twitter_worker orders (publish/subscribe): an X account's polling on and off.",
				ScaleToZero: true, Secrets: []string{secretKeys, secretTwitterApp}, Env: twitterEnv()},
			Build: func(env Env) (fnhttp.Core, error) {
				tokens, err := tokens(env)
				if err != nil {
					return nil, err
				}
				return twitterworker.Build(env.Getenv, twitterworker.Deps{Store: env.Store, Keyring: env.Keyring, Tokens: tokens})
			}},
		{Name: "twitter-dm",
			// the follow-up sync, process_inbound per event, update_interval.
			Sends: []string{contract.SubjectTwitterDM, contract.SubjectInboundTwitter, contract.SubjectIdentitiesWorker},
			Deploy: Deploy{Comment: "twitter_dm sync (publish/subscribe) and deliver (request/reply): direct messages of X accounts.",
				Timeout: 25 * time.Second, ScaleToZero: true, Secrets: []string{secretKeys, secretTwitterApp}, Env: twitterEnv()},
			Build: func(env Env) (fnhttp.Core, error) {
				tokens, err := tokens(env)
				if err != nil {
					return nil, err
				}
				return twitterdm.Build(env.Getenv, twitterdm.Deps{Store: env.Store, Blobs: env.Blobs, Keyring: env.Keyring,
					Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "twitter-dm")})
			}},
		{Name: "inbound-twitter",
			Deploy: Deploy{Comment: "inboundTwitter process_inbound (request/reply): one message per direct message event.",
				ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return inboundtwitter.Build(env.Getenv, inboundtwitter.Deps{Store: env.Store, Blobs: env.Blobs})
			}},
		{Name: "mastodon-dm",
			// the follow-up sync, process_inbound per status, update_interval.
			Sends: []string{contract.SubjectMastodonDM, contract.SubjectInboundMastodon, contract.SubjectIdentitiesWorker},
			Deploy: Deploy{Comment: "mastodon_dm sync (publish/subscribe) and deliver (request/reply): direct statuses of Mastodon accounts.",
				Timeout: 25 * time.Second, ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return mastodondm.Build(env.Getenv, mastodondm.Deps{Store: env.Store, Blobs: env.Blobs, Keyring: env.Keyring,
					Emitter: env.Emitter, Logger: env.Logger.With("fn", "mastodon-dm")})
			}},
		{Name: "inbound-mastodon",
			Deploy: Deploy{Comment: "inboundMastodon process_inbound (request/reply): one message per direct status.",
				ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return inboundmastodon.Build(env.Getenv, inboundmastodon.Deps{Store: env.Store, Blobs: env.Blobs})
			}},
		{Name: "contact-action",
			Deploy: Deploy{Comment: "contact_update on contactAction (publish/subscribe): a contact's privacy features and index.",
				ScaleToZero: true, Secrets: []string{secretKeys}},
			Build: func(env Env) (fnhttp.Core, error) {
				return contactaction.Build(env.Getenv, contactaction.Deps{Store: env.Store})
			}},
		{Name: "key-action",
			// contact_update once a key is found.
			Sends: []string{contract.SubjectContactAction},
			Deploy: Deploy{Comment: "discover_key, publish_key and delete_key on keyAction (publish/subscribe).",
				Timeout: 60 * time.Second, ScaleToZero: true, Secrets: []string{secretKeys},
				Env: []EnvVar{
					{Name: "CALIOPEN_KEYS_HKP_SERVERS", Value: "${CALIOPEN_KEYS_HKP_SERVERS:-hkps://keys.openpgp.org}",
						Comment: "Key discovery (functions/key-action): lookup keyservers, keyservers\n" +
							"publish_key uploads to (HKP has no deletion), the resolver (one that\n" +
							"validates DNSSEC, so OPENPGPKEY answers carry the AD bit)."},
					{Name: "CALIOPEN_KEYS_HKP_UPLOAD", Value: "${CALIOPEN_KEYS_HKP_UPLOAD:-}"},
					{Name: "CALIOPEN_KEYS_TIMEOUT", Value: "10s"},
				}},
			Build: func(env Env) (fnhttp.Core, error) {
				return keyaction.Build(env.Getenv, keyaction.Deps{Store: env.Store, Blobs: env.Blobs, Emitter: env.Emitter,
					Logger: env.Logger.With("fn", "key-action")})
			}},
	}
}

// Secrets some functions mount.
const (
	// secretKeys holds the keys sealing remote-account credentials.
	secretKeys = "caliopen-keys"
	// secretTwitterApp holds the X application's secret.
	secretTwitterApp = "caliopen-twitter-app-secret"
)

// twitterEnv is the X application's settings, for the functions that call
// the X API.
func twitterEnv() []EnvVar {
	return []EnvVar{
		{Name: "TWITTER_API_URL", Value: "${TWITTER_API_URL:-https://api.x.com}"},
		{Name: "TWITTER_APP_KEY", Value: "${TWITTER_APP_KEY:-}"},
		{Name: "TWITTER_APP_SECRET_FILE", Value: "/var/openfaas/secrets/" + secretTwitterApp},
	}
}

// tokens is the OAuth2 token refresher of the functions that log in to
// remote accounts, configured from OAUTH2_* (see oauth2creds).
func tokens(env Env) (*oauth2creds.Refresher, error) {
	cfg, err := oauth2creds.LoadConfig(env.Getenv)
	if err != nil {
		return nil, err
	}
	return oauth2creds.New(cfg, env.Keyring, env.Store, nil), nil
}

// Lookup returns the named function.
func Lookup(name string) (Spec, bool) {
	for _, s := range All() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}
