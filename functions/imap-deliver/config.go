package imapdeliver

import (
	"errors"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/netguard"
)

// Config configures imap-deliver.
type Config struct {
	// Guard checks the address of every remote identity's server; its
	// allow list is CALIOPEN_EGRESS_ALLOW (package netguard).
	Guard netguard.Guard
	// SendTimeout bounds the request to outboundSMTP.
	SendTimeout time.Duration
	// IMAPTimeout bounds the append of the sent copy.
	IMAPTimeout time.Duration
}

// Environment variables read by LoadConfig.
const (
	EnvSendTimeout = "IMAP_DELIVER_SEND_TIMEOUT" // default 25s
	EnvIMAPTimeout = "IMAP_DELIVER_IMAP_TIMEOUT" // default 15s
)

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config {
	return Config{SendTimeout: 25 * time.Second, IMAPTimeout: 15 * time.Second}
}

// LoadConfig reads the configuration from getenv and reports every
// problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	if err := envconf.Durations(getenv, map[string]*time.Duration{EnvSendTimeout: &cfg.SendTimeout, EnvIMAPTimeout: &cfg.IMAPTimeout}); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	var gerr error
	if cfg.Guard, gerr = netguard.Load(getenv); gerr != nil {
		errs = append(errs, gerr)
	}
	return cfg, errors.Join(errs...)
}

// Validate reports what is wrong with cfg, all at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.SendTimeout <= 0 {
		errs = append(errs, errors.New("the send timeout must be positive"))
	}
	if cfg.IMAPTimeout <= 0 {
		errs = append(errs, errors.New("the IMAP timeout must be positive"))
	}
	return errors.Join(errs...)
}
