package contactaction

import (
	"errors"
	"fmt"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/fnhttp"
)

// EnvMaxMessages bounds the messages read per contact_update.
const EnvMaxMessages = "CALIOPEN_CONTACT_MAX_MESSAGES"

// Config configures contact-action.
type Config struct {
	// MaxMessages bounds the messages counted per contact (the newest
	// ones); default 10000.
	MaxMessages int
}

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config { return Config{MaxMessages: 10000} }

// LoadConfig reads the configuration from getenv and reports every problem
// at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	errs := []error{envconf.Int(getenv, EnvMaxMessages, &cfg.MaxMessages)}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// Validate reports what is wrong with cfg.
func (cfg Config) Validate() error {
	if cfg.MaxMessages < 1 {
		return fmt.Errorf("%s must be at least 1", EnvMaxMessages)
	}
	return nil
}

// Build builds contact-action from its environment (LoadConfig, every problem at
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
