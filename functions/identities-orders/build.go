package identitiesorders

import "github.com/caliopen/functions/internal/fnhttp"

// Build constructs identities-orders from its environment and the shared
// dependencies. It takes the fields of functions.Env rather than the Env
// itself, since package functions imports this one:
//
//	{Name: "identities-orders", Build: func(env Env) (fnhttp.Core, error) {
//		return identitiesorders.Build(env.Getenv, identitiesorders.Deps{Store: env.Store,
//			Logger: env.Logger.With("fn", "identities-orders")})
//	}}
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
