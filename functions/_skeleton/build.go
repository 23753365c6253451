package skeleton

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// Name is the function's name in the contract, the registry and stack.yml.
const Name = "skeleton"

// EnvTimeout names the bound of one store read (default 5s). A function's
// variables begin with its own prefix; the shared ones (store, blobs,
// NATS) are read by the process, not here.
const EnvTimeout = "SKELETON_TIMEOUT"

// Config configures the function.
type Config struct {
	// Timeout bounds one store read.
	Timeout time.Duration
}

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config { return Config{Timeout: 5 * time.Second} }

// LoadConfig reads the configuration from getenv (package envconf) and
// reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	err := errors.Join(envconf.Duration(getenv, EnvTimeout, &cfg.Timeout), cfg.Validate())
	return cfg, err
}

// Validate reports what is wrong with cfg.
func (cfg Config) Validate() error {
	if cfg.Timeout <= 0 {
		return fmt.Errorf("%s must be positive", EnvTimeout)
	}
	return nil
}

// Store is what the function needs of the store (*store.SQL has it):
// name the methods used, so that the function's reach is plain.
type Store interface {
	GetUser(ctx context.Context, id string) (store.User, error)
}

// Deps are the function's dependencies, passed by the registry from
// functions.Env; Store is required. Add a Logger only if the function
// logs outside a call (a call logs through call.Logger).
type Deps struct {
	Store Store
}

// Build builds the function from its environment (LoadConfig, every
// problem at once) and its dependencies. Every function's Build has this
// shape; the registry (package functions) calls it.
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}

// New returns the function's core.
func New(cfg Config, deps Deps) (fnhttp.Core, error) {
	if deps.Store == nil {
		return nil, errors.New(Name + ": a store is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &function{cfg: cfg, deps: deps}
	return f.serve, nil
}
