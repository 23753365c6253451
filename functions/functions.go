// Package functions is the explicit list of the project's functions. The
// function image's entrypoint (cmd/function), the local system
// (cmd/caliopen-local) and the stack.yml test all read it; a function exists
// when it is listed here.
//
// To add one: create functions/<name>/ with a New constructor returning an
// fnhttp.Core (a NATS-triggered function) or an http.Handler (an HTTP
// function such as the API), then add a Spec below. The subjects of a
// NATS-triggered function come from the contract.
package functions

import (
	"log/slog"
	"net/http"

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
		{Name: "api", Orders: true, HTTP: func(env Env) (http.Handler, error) {
			cfg, err := api.LoadConfig(env.Getenv)
			if err != nil {
				return nil, err
			}
			return api.New(cfg, api.Deps{Store: env.Store, Blobs: env.Blobs, Emitter: env.Emitter, Sealer: env.Keyring,
				Logger: env.Logger.With("fn", "api"), Tracing: env.Tracing})
		}},
		{Name: "smtp-deliver", Build: func(env Env) (fnhttp.Core, error) {
			tokens, err := tokens(env)
			if err != nil {
				return nil, err
			}
			return smtpdeliver.Build(env.Getenv, smtpdeliver.Deps{Store: env.Store, Blobs: env.Blobs,
				Keyring: env.Keyring, Tokens: tokens, Requester: env.Emitter, Logger: env.Logger.With("fn", "smtp-deliver")})
		}},
		{Name: "inbound-email", Build: func(env Env) (fnhttp.Core, error) {
			return inboundemail.Build(env.Getenv, inboundemail.Deps{Store: env.Store, Blobs: env.Blobs,
				Logger: env.Logger.With("fn", "inbound-email")})
		}},
		{Name: "identities-orders", Build: func(env Env) (fnhttp.Core, error) {
			return identitiesorders.Build(env.Getenv, identitiesorders.Deps{Store: env.Store})
		}},
		{Name: "imap-worker", Build: func(env Env) (fnhttp.Core, error) {
			return imapworker.Build(env.Getenv, imapworker.Deps{Store: env.Store})
		}},
		{Name: "imap-fetch", Build: func(env Env) (fnhttp.Core, error) {
			tokens, err := tokens(env)
			if err != nil {
				return nil, err
			}
			return imapfetch.Build(env.Getenv, imapfetch.Deps{Store: env.Store, Blobs: env.Blobs,
				Keyring: env.Keyring, Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "imap-fetch")})
		}},
		{Name: "imap-deliver", Build: func(env Env) (fnhttp.Core, error) {
			tokens, err := tokens(env)
			if err != nil {
				return nil, err
			}
			return imapdeliver.Build(env.Getenv, imapdeliver.Deps{Store: env.Store, Blobs: env.Blobs,
				Keyring: env.Keyring, Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "imap-deliver")})
		}},
		{Name: "twitter-worker", Build: func(env Env) (fnhttp.Core, error) {
			tokens, err := tokens(env)
			if err != nil {
				return nil, err
			}
			return twitterworker.Build(env.Getenv, twitterworker.Deps{Store: env.Store, Keyring: env.Keyring, Tokens: tokens})
		}},
		{Name: "twitter-dm", Build: func(env Env) (fnhttp.Core, error) {
			tokens, err := tokens(env)
			if err != nil {
				return nil, err
			}
			return twitterdm.Build(env.Getenv, twitterdm.Deps{Store: env.Store, Blobs: env.Blobs, Keyring: env.Keyring,
				Tokens: tokens, Emitter: env.Emitter, Logger: env.Logger.With("fn", "twitter-dm")})
		}},
		{Name: "inbound-twitter", Build: func(env Env) (fnhttp.Core, error) {
			return inboundtwitter.Build(env.Getenv, inboundtwitter.Deps{Store: env.Store, Blobs: env.Blobs})
		}},
		{Name: "mastodon-dm", Build: func(env Env) (fnhttp.Core, error) {
			return mastodondm.Build(env.Getenv, mastodondm.Deps{Store: env.Store, Blobs: env.Blobs, Keyring: env.Keyring,
				Emitter: env.Emitter, Logger: env.Logger.With("fn", "mastodon-dm")})
		}},
		{Name: "inbound-mastodon", Build: func(env Env) (fnhttp.Core, error) {
			return inboundmastodon.Build(env.Getenv, inboundmastodon.Deps{Store: env.Store, Blobs: env.Blobs})
		}},
		{Name: "contact-action", Build: func(env Env) (fnhttp.Core, error) {
			return contactaction.Build(env.Getenv, contactaction.Deps{Store: env.Store})
		}},
		{Name: "key-action", Build: func(env Env) (fnhttp.Core, error) {
			return keyaction.Build(env.Getenv, keyaction.Deps{Store: env.Store, Blobs: env.Blobs, Emitter: env.Emitter,
				Logger: env.Logger.With("fn", "key-action")})
		}},
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
