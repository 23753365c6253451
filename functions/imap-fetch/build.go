package imapfetch

import "github.com/caliopen/functions/internal/fnhttp"

// Build constructs imap-fetch from its environment and the shared
// dependencies (the logger gets "fn"). It takes the fields of
// functions.Env rather than the Env itself, since package functions
// imports this one:
//
//	{Name: "imap-fetch", Build: func(env Env) (fnhttp.Core, error) {
//		return imapfetch.Build(env.Getenv, imapfetch.Deps{Store: env.Store, Blobs: env.Blobs,
//			Keyring: env.Keyring, Emitter: env.Emitter, Logger: env.Logger})
//	}}
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if deps.Logger != nil {
		deps.Logger = deps.Logger.With("fn", "imap-fetch")
	}
	return New(cfg, deps)
}
