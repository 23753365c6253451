package keyaction

import "github.com/caliopen/functions/internal/fnhttp"

// Build constructs key-action from its environment and the shared
// dependencies (package functions passes the fields of its Env).
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
