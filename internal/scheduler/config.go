package scheduler

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/schedule"
)

// Environment variables read by LoadConfig.
const (
	EnvTick            = "SCHEDULER_TICK"                 // default 1s
	EnvBatch           = "SCHEDULER_BATCH"                // due rows read at once, default 500 (the store caps it)
	EnvConcurrency     = "SCHEDULER_CONCURRENCY"          // orders in flight, default 32
	EnvMaxPerTick      = "SCHEDULER_MAX_PER_TICK"         // due runs handled in one tick, default 1000
	EnvSendTimeout     = "SCHEDULER_SEND_TIMEOUT"         // default 5s
	EnvRetryDelay      = "SCHEDULER_RETRY_DELAY"          // after a failed send, default 30s
	EnvJitter          = "SCHEDULER_JITTER"               // fraction, default 0.1
	EnvGrace           = "SCHEDULER_GRACE"                // default 30s
	EnvSpread          = "SCHEDULER_SPREAD"               // default 5m
	EnvHTTPAddr        = "SCHEDULER_HTTP_ADDR"            // /healthz and /metrics, default :8080, "off" for none
	EnvEmailInterval   = "CALIOPEN_POLL_EMAIL_INTERVAL"   // default 15m
	EnvTwitterInterval = "CALIOPEN_POLL_TWITTER_INTERVAL" // default 2m
)

// Config configures the scheduler.
type Config struct {
	Tick        time.Duration
	Batch       int
	Concurrency int
	// MaxPerTick bounds the due runs one tick claims; the rest waits for
	// the next ticks, the most overdue first. The default, 1000, keeps a
	// tick under half a second on a loaded two-core machine (a catch-up
	// tick of 2000 runs on SQLite took up to 0.84 s there) and is five
	// times the steady load of 100,000 identities at the default
	// intervals (about 185 runs a second).
	MaxPerTick  int
	SendTimeout time.Duration
	RetryDelay  time.Duration
	Policy      schedule.Policy
	// HTTPAddr serves /healthz and /metrics; "" serves nothing.
	HTTPAddr string
}

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config {
	return Config{Tick: time.Second, Batch: 500, Concurrency: 32, MaxPerTick: 1000, SendTimeout: 5 * time.Second,
		RetryDelay: 30 * time.Second, Policy: schedule.DefaultPolicy(), HTTPAddr: ":8080"}
}

// LoadConfig reads the configuration from getenv and reports every problem
// at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	for name, dst := range map[string]*time.Duration{EnvTick: &cfg.Tick, EnvSendTimeout: &cfg.SendTimeout,
		EnvRetryDelay: &cfg.RetryDelay, EnvGrace: &cfg.Policy.Grace, EnvSpread: &cfg.Policy.Spread,
		EnvEmailInterval: &cfg.Policy.EmailInterval, EnvTwitterInterval: &cfg.Policy.TwitterInterval} {
		errs = append(errs, envconf.Duration(getenv, name, dst))
	}
	for name, dst := range map[string]*int{EnvBatch: &cfg.Batch, EnvConcurrency: &cfg.Concurrency,
		EnvMaxPerTick: &cfg.MaxPerTick} {
		errs = append(errs, envconf.Int(getenv, name, dst))
	}
	if v := strings.TrimSpace(getenv(EnvJitter)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want a fraction such as 0.1, got %q", EnvJitter, v))
		}
		cfg.Policy.Jitter = f
	}
	switch v := strings.TrimSpace(getenv(EnvHTTPAddr)); v {
	case "":
	case "off":
		cfg.HTTPAddr = ""
	default:
		cfg.HTTPAddr = v
	}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// Validate reports every problem of cfg at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Tick <= 0 || cfg.SendTimeout <= 0 || cfg.RetryDelay <= 0 {
		errs = append(errs, errors.New("tick, send timeout and retry delay must be positive"))
	}
	if cfg.Batch < 1 || cfg.Concurrency < 1 || cfg.MaxPerTick < 1 {
		errs = append(errs, errors.New("batch, concurrency and max per tick must be at least 1"))
	}
	if err := cfg.Policy.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CatchUp is how long a scheduler alone takes to claim a backlog of n due
// runs at MaxPerTick a tick: ceil(n/MaxPerTick) ticks. Replicas share the
// backlog, so k of them take about a k-th of it. Each overdue run is moved
// to a random time within Policy.Spread when claimed, so the last sync of
// a backlog is sent at most CatchUp + Spread after the restart.
func (cfg Config) CatchUp(n int) time.Duration {
	if n <= 0 || cfg.MaxPerTick < 1 {
		return 0
	}
	return time.Duration((n+cfg.MaxPerTick-1)/cfg.MaxPerTick) * cfg.Tick
}
