package dmbridge

import (
	"errors"
	"fmt"
	"time"

	"github.com/caliopen/functions/internal/envconf"
)

// Settings are a bridge's sync and send settings.
type Settings struct {
	// MaxPages bounds the pages one sync reads.
	MaxPages int
	// InFlight is how many process_inbound requests run at once.
	InFlight int
	// Budget is how long one sync keeps starting process_inbound
	// requests; what is left goes to a follow-up sync. Keep Budget +
	// ProcessTimeout + the walk's time below exec_timeout.
	Budget time.Duration
	// ProcessTimeout bounds one process_inbound request (the original's 10 s).
	ProcessTimeout time.Duration
	// Lease is how long a sync holds the account; SendLease how long a
	// deliver holds its draft. Both exceed the function's timeout.
	Lease, SendLease time.Duration
	// BaseInterval is the poll interval restored after a rate limit;
	// MaxInterval caps the slowed one.
	BaseInterval, MaxInterval time.Duration
}

// Env names the environment variables of each setting.
type Env struct {
	MaxPages, InFlight, ProcessTimeout, Budget, Lease, SendLease, BaseInterval, MaxInterval string
}

// DefaultSettings are the settings without environment, maxPages pages a
// sync.
func DefaultSettings(maxPages int) Settings {
	return Settings{MaxPages: maxPages, InFlight: 16, Budget: 10 * time.Second, ProcessTimeout: 10 * time.Second,
		Lease: 2 * time.Minute, SendLease: time.Minute, BaseInterval: 2 * time.Minute, MaxInterval: 24 * time.Hour}
}

// Load reads the variables env names into s, every problem at once, then
// validates s.
func (s *Settings) Load(getenv func(string) string, env Env) error {
	var errs []error
	for name, dst := range map[string]*int{env.MaxPages: &s.MaxPages, env.InFlight: &s.InFlight} {
		errs = append(errs, envconf.PositiveInt(getenv, name, dst))
	}
	for name, dst := range map[string]*time.Duration{env.ProcessTimeout: &s.ProcessTimeout, env.Budget: &s.Budget,
		env.Lease: &s.Lease, env.SendLease: &s.SendLease, env.BaseInterval: &s.BaseInterval, env.MaxInterval: &s.MaxInterval} {
		errs = append(errs, envconf.Duration(getenv, name, dst))
	}
	errs = append(errs, s.Validate())
	return errors.Join(errs...)
}

// Validate reports what is wrong with s.
func (s Settings) Validate() error {
	var errs []error
	if s.MaxPages < 1 || s.InFlight < 1 {
		errs = append(errs, errors.New("max pages and in-flight must be at least 1"))
	}
	if s.ProcessTimeout <= 0 || s.Budget <= 0 || s.Lease <= 0 || s.SendLease <= 0 {
		errs = append(errs, errors.New("the budget, the process timeout and the leases must be positive"))
	}
	if s.Lease <= s.Budget+s.ProcessTimeout {
		errs = append(errs, fmt.Errorf("the lease (%s) must exceed the budget and the process timeout (%s)",
			s.Lease, s.Budget+s.ProcessTimeout))
	}
	if s.BaseInterval < time.Minute || s.MaxInterval < s.BaseInterval {
		errs = append(errs, errors.New("the base interval must be at least 1m and the max interval at least the base"))
	}
	return errors.Join(errs...)
}

// EnvFor names the settings' variables of a bridge: PREFIX_MAX_PAGES,
// PREFIX_IN_FLIGHT, PREFIX_PROCESS_TIMEOUT, PREFIX_BUDGET, PREFIX_LEASE,
// PREFIX_SEND_LEASE, PREFIX_MAX_INTERVAL, and baseInterval, the poll
// interval's variable, which the scheduler reads too.
func EnvFor(prefix, baseInterval string) Env {
	return Env{MaxPages: prefix + "_MAX_PAGES", InFlight: prefix + "_IN_FLIGHT", ProcessTimeout: prefix + "_PROCESS_TIMEOUT",
		Budget: prefix + "_BUDGET", Lease: prefix + "_LEASE", SendLease: prefix + "_SEND_LEASE", BaseInterval: baseInterval,
		MaxInterval: prefix + "_MAX_INTERVAL"}
}
