package imapworker

import "github.com/caliopen/functions/internal/fnhttp"

// Config configures imap-worker; it has no settings yet.
type Config struct{}

// LoadConfig reads the configuration from getenv.
func LoadConfig(getenv func(string) string) (Config, error) { return Config{}, nil }

// Build constructs imap-worker from its environment and the shared
// dependencies. It takes the fields of functions.Env rather than the Env
// itself, since package functions imports this one:
//
//	{Name: "imap-worker", Build: func(env Env) (fnhttp.Core, error) {
//		return imapworker.Build(env.Getenv, imapworker.Deps{Store: env.Store,
//			Logger: env.Logger.With("fn", "imap-worker")})
//	}}
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
