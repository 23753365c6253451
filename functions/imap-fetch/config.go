package imapfetch

import (
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/netguard"
)

// Config configures imap-fetch.
type Config struct {
	// Guard checks the address of every remote identity's server; its
	// allow list is CALIOPEN_EGRESS_ALLOW (package netguard).
	Guard netguard.Guard
	// Batch is the most messages one invocation fetches. Budget, not
	// Batch, keeps an invocation inside its timeout; each batch costs a
	// login, a SEARCH and a pipeline drained to empty, so a batch well
	// above what a sync usually finds saves those.
	Batch int
	// InFlight is how many messages are stored and processed at once: it
	// hides each message's round trip (blob, record, process_inbound) and
	// bounds the load one sync puts on inbound-email.
	InFlight int
	// Budget is how long one invocation keeps fetching new messages; keep
	// Budget + IMAPTimeout + ProcessTimeout (55 s by default) below
	// exec_timeout and the connector's EVENT_TIMEOUT (60 s by default).
	Budget time.Duration
	// IMAPTimeout bounds the connection and login.
	IMAPTimeout time.Duration
	// ProcessTimeout bounds one process_inbound request (the original's 10 s).
	ProcessTimeout time.Duration
	// Lease is how long a sync holds the identity; it must exceed the
	// longest invocation, so a crashed holder's lease runs out.
	Lease time.Duration
	// SlowAfter is the number of failures in a row from which polling is
	// slowed down.
	SlowAfter int
	// BaseInterval is the poll interval restored after a recovery and the
	// base of the slowed one; MaxInterval caps the slowed one.
	BaseInterval, MaxInterval time.Duration
	// DisableAfter is how long failures may last before the identity is
	// set inactive.
	DisableAfter time.Duration
}

// Environment variables read by LoadConfig.
const (
	EnvBatch          = "IMAP_FETCH_BATCH"           // default 5000
	EnvInFlight       = "IMAP_FETCH_IN_FLIGHT"       // default 32
	EnvBudget         = "IMAP_FETCH_BUDGET"          // default 30s
	EnvIMAPTimeout    = "IMAP_FETCH_IMAP_TIMEOUT"    // default 15s
	EnvProcessTimeout = "IMAP_FETCH_PROCESS_TIMEOUT" // default 10s
	EnvLease          = "IMAP_FETCH_LEASE"           // default 5m
	EnvSlowAfter      = "IMAP_FETCH_SLOW_AFTER"      // default 3
	EnvBaseInterval   = "IMAP_FETCH_BASE_INTERVAL"   // default 15m
	EnvMaxInterval    = "IMAP_FETCH_MAX_INTERVAL"    // default 24h
	EnvDisableAfter   = "IMAP_FETCH_DISABLE_AFTER"   // default 72h
)

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config {
	return Config{Batch: 5000, InFlight: 32, Budget: 30 * time.Second, IMAPTimeout: 15 * time.Second,
		ProcessTimeout: 10 * time.Second, Lease: 5 * time.Minute, SlowAfter: 3,
		BaseInterval: 15 * time.Minute, MaxInterval: 24 * time.Hour, DisableAfter: 72 * time.Hour}
}

// LoadConfig reads the configuration from getenv and reports every
// problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	for name, dst := range map[string]*int{EnvBatch: &cfg.Batch, EnvInFlight: &cfg.InFlight, EnvSlowAfter: &cfg.SlowAfter} {
		errs = append(errs, envconf.Int(getenv, name, dst))
	}
	for name, dst := range map[string]*time.Duration{EnvBudget: &cfg.Budget, EnvIMAPTimeout: &cfg.IMAPTimeout,
		EnvProcessTimeout: &cfg.ProcessTimeout, EnvLease: &cfg.Lease, EnvBaseInterval: &cfg.BaseInterval,
		EnvMaxInterval: &cfg.MaxInterval, EnvDisableAfter: &cfg.DisableAfter} {
		if err := envconf.Duration(getenv, name, dst); err != nil {
			errs = append(errs, err)
		}
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
	if cfg.Batch < 1 || cfg.InFlight < 1 || cfg.SlowAfter < 1 {
		errs = append(errs, errors.New("batch, in-flight and slow-after must be at least 1"))
	}
	for name, d := range map[string]time.Duration{"budget": cfg.Budget, "IMAP timeout": cfg.IMAPTimeout,
		"process timeout": cfg.ProcessTimeout, "disable-after": cfg.DisableAfter} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("the %s must be positive", name))
		}
	}
	if run := cfg.Budget + cfg.IMAPTimeout + cfg.ProcessTimeout; cfg.Lease <= run {
		errs = append(errs, fmt.Errorf("the lease (%s) must exceed budget + IMAP and process timeouts (%s)", cfg.Lease, run))
	}
	if cfg.BaseInterval < time.Minute || cfg.MaxInterval < cfg.BaseInterval {
		errs = append(errs, errors.New("the base interval must be at least 1m and the max interval at least the base"))
	}
	return errors.Join(errs...)
}
