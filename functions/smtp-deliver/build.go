package smtpdeliver

import (
	"github.com/caliopen/functions/internal/fnhttp"
)

// Build constructs smtp-deliver from its environment and the shared
// dependencies (the logger gets "fn"). It takes the fields of
// functions.Env rather than the Env itself, since package functions
// imports this one:
//
//	{Name: "smtp-deliver", Build: func(env Env) (fnhttp.Core, error) {
//		return smtpdeliver.Build(env.Getenv, smtpdeliver.Deps{Store: env.Store,
//			Blobs: env.Blobs, Keyring: env.Keyring, Requester: env.Emitter, Logger: env.Logger})
//	}}
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if deps.Logger != nil {
		deps.Logger = deps.Logger.With("fn", "smtp-deliver")
	}
	return New(cfg, deps)
}
