package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/accounts"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/envconf"
)

// Environment variables read by LoadConfig.
const (
	EnvLocalDomain    = "CALIOPEN_LOCAL_DOMAIN" // domain of local addresses
	EnvAdminName      = "CALIOPEN_ADMIN_NAME"   // user whose local identity sends the admin's mails
	EnvTokenTTL       = "API_TOKEN_TTL"         // a Go duration
	EnvBcryptCost     = "API_BCRYPT_COST"       // 4 to 31
	EnvMaxBodyBytes   = "API_MAX_BODY_BYTES"    // a positive integer
	EnvSendTimeout    = "API_SEND_TIMEOUT"      // a Go duration
	EnvPublishTimeout = "API_PUBLISH_TIMEOUT"   // a Go duration
	// EnvMaxRemotes bounds the remote identities of one user (a positive integer).
	EnvMaxRemotes = "API_MAX_REMOTE_IDENTITIES"
	// EnvTrustedProxyHops is how many proxies in front of the API append
	// the address they received from to X-Forwarded-For (0: none; the
	// client address is the connection's).
	EnvTrustedProxyHops = "API_TRUSTED_PROXY_HOPS"
	// Login throttling (accounts.ThrottleConfig): free failures per client
	// address and per account, and how often one comes back.
	EnvLoginAddressBurst = "API_LOGIN_ADDRESS_BURST" // a positive integer
	EnvLoginAddressEvery = "API_LOGIN_ADDRESS_EVERY" // a Go duration
	EnvLoginAccountBurst = "API_LOGIN_ACCOUNT_BURST" // a positive integer
	EnvLoginAccountEvery = "API_LOGIN_ACCOUNT_EVERY" // a Go duration
)

// Defaults of Config, set in one place (withDefaults).
const (
	DefaultLocalDomain          = "caliopen.local"
	DefaultAdminName            = "admin"
	DefaultMaxBodyBytes   int64 = 1 << 20
	DefaultSendTimeout          = contract.DeliverDeadline // 30 s, the original requester's
	DefaultPublishTimeout       = 5 * time.Second
	DefaultMaxRemotes           = 20
)

// Config configures the API. Zero fields take the documented defaults.
type Config struct {
	// LocalDomain is the domain of local addresses. Default
	// DefaultLocalDomain ("caliopen.local").
	LocalDomain string
	// AdminName is the user whose first local identity sends the admin's
	// mails (the original's admin_username). Default "admin".
	AdminName string
	// TokenTTL is the lifetime of a login token. Default 24h.
	TokenTTL time.Duration
	// BcryptCost is the cost of new password hashes, 4 to 31. Default 10.
	BcryptCost int
	// MaxBodyBytes bounds a request body; a larger one gets 413. Default
	// 1 MiB.
	MaxBodyBytes int64
	// SendTimeout bounds a deliver request (SendDraft, the admin's mails).
	// Default 30s.
	SendTimeout time.Duration
	// PublishTimeout bounds the acknowledged publish of a
	// publish/subscribe order, retries included; an order not
	// acknowledged by then is left to the outbox relay. Default 5s.
	PublishTimeout time.Duration
	// TrustedProxyHops is how many proxies in front of the API append to
	// X-Forwarded-For; the client address, which login throttling keys on,
	// is the one the outermost of them saw. Default 0: the connection's
	// address. Set it to what the deployment has: too few makes every
	// client one address, too many lets clients choose theirs.
	TrustedProxyHops int
	// Throttle configures login throttling (accounts.LoginThrottle); zero
	// fields take its defaults (10 failures per address, one back every
	// 30s; 20 per account, one back every 10s).
	Throttle accounts.ThrottleConfig
	// MaxRemotes bounds the remote identities of one user (each is polled
	// and dialled). Default DefaultMaxRemotes.
	MaxRemotes int
}

// LoadConfig reads Config from the environment and reports every problem
// at once. Unset variables leave their field zero, that is, defaulted.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	cfg.LocalDomain = strings.TrimSpace(getenv(EnvLocalDomain))
	cfg.AdminName = strings.TrimSpace(getenv(EnvAdminName))
	errs := []error{
		envconf.PositiveDuration(getenv, EnvTokenTTL, &cfg.TokenTTL),
		envconf.PositiveDuration(getenv, EnvSendTimeout, &cfg.SendTimeout),
		envconf.PositiveDuration(getenv, EnvPublishTimeout, &cfg.PublishTimeout),
		envconf.PositiveInt64(getenv, EnvMaxBodyBytes, &cfg.MaxBodyBytes),
		envconf.PositiveInt(getenv, EnvBcryptCost, &cfg.BcryptCost),
		envconf.PositiveInt(getenv, EnvLoginAddressBurst, &cfg.Throttle.AddressBurst),
		envconf.PositiveInt(getenv, EnvLoginAccountBurst, &cfg.Throttle.AccountBurst),
		envconf.PositiveDuration(getenv, EnvLoginAddressEvery, &cfg.Throttle.AddressEvery),
		envconf.PositiveDuration(getenv, EnvLoginAccountEvery, &cfg.Throttle.AccountEvery),
		envconf.PositiveInt(getenv, EnvMaxRemotes, &cfg.MaxRemotes),
	}
	if err := envconf.Int(getenv, EnvTrustedProxyHops, &cfg.TrustedProxyHops); err != nil {
		errs = append(errs, err)
	} else if n := cfg.TrustedProxyHops; n < 0 || n > 16 {
		errs = append(errs, fmt.Errorf("%s=%d: want a whole number from 0 to 16", EnvTrustedProxyHops, n))
	}
	if _, err := cfg.withDefaults(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// withDefaults checks cfg, reporting every problem at once, and returns it
// with its zero fields set to their defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.LocalDomain == "" {
		cfg.LocalDomain = DefaultLocalDomain
	}
	if cfg.AdminName == "" {
		cfg.AdminName = DefaultAdminName
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.PublishTimeout == 0 {
		cfg.PublishTimeout = DefaultPublishTimeout
	}
	if cfg.MaxRemotes <= 0 {
		cfg.MaxRemotes = DefaultMaxRemotes
	}
	var errs []error
	if cfg.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("max body bytes %d is negative", cfg.MaxBodyBytes))
	}
	if cfg.SendTimeout < 0 {
		errs = append(errs, fmt.Errorf("send timeout %s is negative", cfg.SendTimeout))
	}
	if cfg.PublishTimeout < 0 {
		errs = append(errs, fmt.Errorf("publish timeout %s is negative", cfg.PublishTimeout))
	}
	if err := accounts.CheckName(accounts.NormalizeName(cfg.AdminName)); err != nil {
		errs = append(errs, fmt.Errorf("admin name %q: %w", cfg.AdminName, err))
	}
	if err := cfg.accounts().Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// accounts returns the configuration of the accounts service; its zero
// fields take the accounts' defaults (token TTL 24h, bcrypt cost 10).
func (cfg Config) accounts() accounts.Config {
	return accounts.Config{LocalDomain: cfg.LocalDomain, BcryptCost: cfg.BcryptCost, TokenTTL: cfg.TokenTTL}
}
