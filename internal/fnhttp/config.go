package fnhttp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/invokeauth"
)

// Defaults of Config. They are set in one place, withDefaults.
const (
	// DefaultTimeout bounds one invocation when exec_timeout is not set.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxBodyBytes bounds a request body when FUNCTION_MAX_BODY_BYTES
	// is not set.
	DefaultMaxBodyBytes int64 = 1 << 20
)

// Environment variables read by LoadConfig.
const (
	EnvFunction     = "FUNCTION"                // required: the function's name
	EnvSubjects     = "FUNCTION_SUBJECTS"       // optional: comma-separated subjects
	EnvTimeout      = "exec_timeout"            // optional: OpenFaaS's name; "10s" or whole seconds
	EnvMaxBodyBytes = "FUNCTION_MAX_BODY_BYTES" // optional: a positive integer
)

// Config configures the HTTP adapter of one function. Zero values take the
// documented defaults.
type Config struct {
	// Function is the function's name as in the contract and stack.yml.
	// Required.
	Function string
	// Subjects lists the subjects the function serves. Default: the
	// contract's subjects for Function (contract.SubjectsOf).
	Subjects []string
	// Timeout bounds one invocation of the core, caller deadline permitting.
	// Default DefaultTimeout (30s). Keep it equal to the watchdog's
	// exec_timeout: the adapter answers a little before it.
	Timeout time.Duration
	// MaxBodyBytes bounds a request body; a larger one gets 413. Default
	// DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// Keys, when set, make every invocation carry a valid
	// invokeauth.Header signature; others get 401 before their body is
	// decoded. Nil checks nothing: the entrypoints load the keys with
	// invokeauth.Load, which refuses to run without them unless told the
	// process is a development one.
	Keys *invokeauth.Keys
	// Tracing records a span per invocation, continuing the trace its
	// traceparent header carries; the core's context holds the span, so
	// the orders it sends and the store and blob calls it makes continue
	// the trace. Nil records nothing.
	Tracing trace.TracerProvider
}

// LoadConfig reads Config from the environment (FUNCTION, FUNCTION_SUBJECTS,
// exec_timeout, FUNCTION_MAX_BODY_BYTES) and reports every problem at once.
// Unset optional variables leave their field zero, that is, defaulted.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	var errs []error
	cfg.Function = strings.TrimSpace(getenv(EnvFunction))
	if cfg.Function == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvFunction))
	}
	errs = append(errs, envconf.List(getenv, EnvSubjects, &cfg.Subjects))
	if v := strings.TrimSpace(getenv(EnvSubjects)); v != "" && len(cfg.Subjects) == 0 {
		errs = append(errs, fmt.Errorf("%s=%q names no subject", EnvSubjects, v))
	}
	if v := strings.TrimSpace(getenv(EnvTimeout)); v != "" {
		d, err := parseSecondsOrDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", EnvTimeout, v, err))
		}
		cfg.Timeout = d
	}
	errs = append(errs, envconf.PositiveInt64(getenv, EnvMaxBodyBytes, &cfg.MaxBodyBytes))
	return cfg, errors.Join(errs...)
}

// Validate checks cfg against the contract: a function name, at least one
// subject (explicit or from the contract), every subject known to the
// contract, no negative limits. It reports every problem at once.
func (cfg Config) Validate(c *contract.Contract) error {
	var errs []error
	if cfg.Function == "" {
		errs = append(errs, errors.New("function name is empty"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", cfg.Timeout))
	}
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d is negative", cfg.MaxBodyBytes))
	}
	if cfg.Function != "" && len(cfg.withDefaults(c).Subjects) == 0 {
		errs = append(errs, fmt.Errorf("function %q serves no subject of the contract (known functions: %s)",
			cfg.Function, strings.Join(c.Functions(), ", ")))
	}
	for _, s := range cfg.Subjects {
		if _, ok := c.Subject(s); !ok {
			errs = append(errs, fmt.Errorf("subject %q is not in the contract", s))
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults(c *contract.Contract) Config {
	if len(cfg.Subjects) == 0 {
		for _, s := range c.SubjectsOf(cfg.Function) {
			cfg.Subjects = append(cfg.Subjects, s.Name)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return cfg
}

// parseSecondsOrDuration reads a duration the way of-watchdog reads
// exec_timeout: whole seconds ("30") or a Go duration ("30s").
func parseSecondsOrDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, errors.New(`want a duration such as "30s" or whole seconds`)
		}
		d = time.Duration(n) * time.Second
	}
	if d <= 0 {
		return 0, errors.New("want a positive duration")
	}
	return d, nil
}
