package smtpdeliver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/mailconn"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/outbound"
	"github.com/caliopen/functions/internal/secretenv"
)

// Config configures smtp-deliver.
type Config struct {
	// Guard checks the address of every remote identity's server; its
	// allow list is CALIOPEN_EGRESS_ALLOW (package netguard).
	Guard netguard.Guard
	// Relay is the platform's submission relay for local identities;
	// a zero Addr means none (only hosted recipients can be reached).
	Relay outbound.Server
	// MessageIDDomain is the domain of Message-IDs; "" takes the sender's.
	MessageIDDomain string
	// HelloName is the EHLO name towards remote identities' servers.
	HelloName string
	// LocalDelivery delivers mail for hosted addresses without the relay.
	LocalDelivery bool
	// HostedDomain is the domain of local addresses (the API's
	// CALIOPEN_LOCAL_DOMAIN). With LocalDelivery, an address there that no
	// active local identity has does not exist: the send fails with
	// unknown_recipient instead of going to the relay.
	HostedDomain string
	// SendLease is how long one attempt holds a draft; it must exceed the
	// longest attempt (SMTPTimeout and the store's writes).
	SendLease time.Duration
	// SMTPTimeout bounds one SMTP transaction.
	SMTPTimeout time.Duration
}

// Environment variables read by LoadConfig.
const (
	EnvRelayAddr     = "SMTP_DELIVER_RELAY_ADDR"     // host:port; empty: no relay
	EnvRelayTLS      = "SMTP_DELIVER_RELAY_TLS"      // none, starttls (default), tls
	EnvRelayUser     = "SMTP_DELIVER_RELAY_USER"     // AUTH user; empty: no AUTH
	EnvRelayPassword = "SMTP_DELIVER_RELAY_PASSWORD" // or SMTP_DELIVER_RELAY_PASSWORD_FILE; read only with a user
	EnvRelayAuth     = "SMTP_DELIVER_RELAY_AUTH"     // PLAIN (default) or LOGIN
	EnvHelloName     = "SMTP_DELIVER_HELO_NAME"      // default localhost
	EnvMsgIDDomain   = "SMTP_DELIVER_MESSAGE_ID_DOMAIN"
	EnvLocalDelivery = "SMTP_DELIVER_LOCAL_DELIVERY" // true (default) or false
	EnvSendLease     = "SMTP_DELIVER_SEND_LEASE"     // default 2m
	EnvSMTPTimeout   = "SMTP_DELIVER_SMTP_TIMEOUT"   // default 25s
	EnvLocalDomain   = "CALIOPEN_LOCAL_DOMAIN"       // default caliopen.local, as the API's
)

// DefaultHostedDomain is the API's default domain of local addresses.
const DefaultHostedDomain = "caliopen.local"

// DefaultConfig is the configuration without environment.
func DefaultConfig() Config {
	return Config{LocalDelivery: true, HostedDomain: DefaultHostedDomain, SendLease: 2 * time.Minute, SMTPTimeout: 25 * time.Second}
}

// LoadConfig reads the configuration from getenv and reports every
// problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg.Relay.Addr = get(EnvRelayAddr)
	mode, err := mailconn.ParseTLSMode(get(EnvRelayTLS))
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvRelayTLS, err))
	}
	cfg.Relay.TLS = mode
	cfg.Relay.Username = get(EnvRelayUser)
	if cfg.Relay.Username != "" {
		// Only a relay with AUTH needs the password: without a user its
		// secret need not be mounted, and is not read.
		if cfg.Relay.Password, err = secretenv.Value(getenv, EnvRelayPassword); err != nil {
			errs = append(errs, err)
		}
		cfg.Relay.Auth = mailconn.MechPlain
		switch a := strings.ToUpper(get(EnvRelayAuth)); a {
		case "", "PLAIN":
		case "LOGIN":
			cfg.Relay.Auth = mailconn.MechLogin
		default:
			errs = append(errs, fmt.Errorf("%s: %q is not PLAIN or LOGIN", EnvRelayAuth, a))
		}
	}
	cfg.HelloName = get(EnvHelloName)
	cfg.Relay.HelloName = cfg.HelloName
	cfg.MessageIDDomain = get(EnvMsgIDDomain)
	if d := strings.ToLower(get(EnvLocalDomain)); d != "" {
		cfg.HostedDomain = d
	}
	errs = append(errs, envconf.Bool(getenv, EnvLocalDelivery, &cfg.LocalDelivery))
	if err := envconf.Durations(getenv, map[string]*time.Duration{EnvSendLease: &cfg.SendLease, EnvSMTPTimeout: &cfg.SMTPTimeout}); err != nil {
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
	if cfg.Relay.Addr != "" {
		if err := cfg.Relay.Check(); err != nil {
			errs = append(errs, fmt.Errorf("relay: %w", err))
		}
	}
	if cfg.SMTPTimeout <= 0 {
		errs = append(errs, errors.New("the SMTP timeout must be positive"))
	}
	if cfg.SendLease <= cfg.SMTPTimeout {
		errs = append(errs, fmt.Errorf("the send lease (%s) must exceed the SMTP timeout (%s)", cfg.SendLease, cfg.SMTPTimeout))
	}
	return errors.Join(errs...)
}
