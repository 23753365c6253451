package imapfetch

import "github.com/caliopen/functions/internal/fnhttp"

// Build builds imap-fetch from its environment (LoadConfig, every problem at
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
