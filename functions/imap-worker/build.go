package imapworker

import "github.com/caliopen/functions/internal/fnhttp"

// Config configures imap-worker; it has no settings yet.
type Config struct{}

// LoadConfig reads the configuration from getenv.
func LoadConfig(getenv func(string) string) (Config, error) { return Config{}, nil }

// Build builds imap-worker from its environment (LoadConfig, every problem at
// once) and its dependencies. Every function's Build has this shape; the
// registry (package functions) passes the shared parts and a logger that
// already carries "fn".
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
