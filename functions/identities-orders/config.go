package identitiesorders

import (
	"errors"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/schedule"
)

// Environment variables read by LoadConfig; the scheduler reads the same.
const (
	EnvEmailInterval   = "CALIOPEN_POLL_EMAIL_INTERVAL"   // default 15m
	EnvTwitterInterval = "CALIOPEN_POLL_TWITTER_INTERVAL" // default 2m
)

// Config configures identities-orders.
type Config struct {
	// Policy gives the default intervals of identities without their own.
	Policy schedule.Policy
}

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config { return Config{Policy: schedule.DefaultPolicy()} }

// LoadConfig reads the configuration from getenv and reports every problem
// at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	errs := []error{
		envconf.Duration(getenv, EnvEmailInterval, &cfg.Policy.EmailInterval),
		envconf.Duration(getenv, EnvTwitterInterval, &cfg.Policy.TwitterInterval),
	}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// Validate reports what is wrong with cfg.
func (cfg Config) Validate() error { return cfg.Policy.Validate() }
