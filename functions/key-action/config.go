package keyaction

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/keydiscovery"
	"github.com/caliopen/functions/internal/netguard"
	"github.com/caliopen/functions/internal/store"
)

// Environment variables read by LoadConfig.
const (
	EnvSources    = "CALIOPEN_KEYS_SOURCES"     // default wkd,dane,hkp,autocrypt
	EnvHKPServers = "CALIOPEN_KEYS_HKP_SERVERS" // lookup keyservers, "none" for none; default hkps://keys.openpgp.org
	EnvHKPUpload  = "CALIOPEN_KEYS_HKP_UPLOAD"  // keyservers publish_key uploads to; default none
	EnvDNSServer  = "CALIOPEN_KEYS_DNS_SERVER"  // host:port of the resolver; default /etc/resolv.conf's first
	EnvTimeout    = "CALIOPEN_KEYS_TIMEOUT"     // per lookup; default 10s
	EnvMaxBytes   = "CALIOPEN_KEYS_MAX_BYTES"   // per answer; default 262144
	EnvWKDPort    = "CALIOPEN_KEYS_WKD_PORT"    // default 443 (tests serve elsewhere)
	EnvCAFile     = "CALIOPEN_KEYS_CA_FILE"     // PEM roots trusted besides the system's (tests)
)

// Config configures key-action.
type Config struct {
	Sources    []string
	HKPServers []string
	HKPUpload  []string
	DNSServer  string
	Timeout    time.Duration
	MaxBytes   int
	// Guard checks every lookup's destination; its allow list is
	// CALIOPEN_EGRESS_ALLOW (package netguard).
	Guard netguard.Guard
	// GuardWarning is the deprecation of CALIOPEN_KEYS_ALLOW_PRIVATE,
	// when set: New logs it.
	GuardWarning string
	WKDPort      int
	// RootCAs, when set, verify the servers instead of the system's
	// roots plus CAFile.
	RootCAs *x509.CertPool
}

// DefaultConfig is the configuration without environment (DNSServer
// empty: LoadConfig reads /etc/resolv.conf).
func DefaultConfig() Config {
	return Config{Sources: []string{store.KeySourceWKD, store.KeySourceDANE, store.KeySourceHKP, store.KeySourceAutocrypt},
		HKPServers: []string{"hkps://keys.openpgp.org"}, Timeout: 10 * time.Second, MaxBytes: 256 << 10, WKDPort: 443}
}

// LoadConfig reads the configuration from getenv and reports every problem
// at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	errs := []error{
		envconf.List(getenv, EnvSources, &cfg.Sources),
		envconf.List(getenv, EnvHKPServers, &cfg.HKPServers),
		envconf.List(getenv, EnvHKPUpload, &cfg.HKPUpload),
		envconf.Duration(getenv, EnvTimeout, &cfg.Timeout),
		envconf.Int(getenv, EnvMaxBytes, &cfg.MaxBytes),
		envconf.Int(getenv, EnvWKDPort, &cfg.WKDPort),
	}
	if v := strings.TrimSpace(getenv(EnvHKPServers)); v == "none" {
		cfg.HKPServers = nil
	}
	var err error
	cfg.Guard, cfg.GuardWarning, err = netguard.LoadKeys(getenv)
	errs = append(errs, err)
	cfg.DNSServer = strings.TrimSpace(getenv(EnvDNSServer))
	if cfg.DNSServer == "" {
		if cc, err := dns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
			cfg.DNSServer = net.JoinHostPort(cc.Servers[0], cc.Port)
		}
	}
	if f := strings.TrimSpace(getenv(EnvCAFile)); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvCAFile, err))
		} else {
			pool, perr := x509.SystemCertPool()
			if perr != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("%s: no PEM certificate in %s", EnvCAFile, f))
			}
			cfg.RootCAs = pool
		}
	}
	errs = append(errs, cfg.Validate())
	return cfg, errors.Join(errs...)
}

// Validate reports what is wrong with cfg.
func (cfg Config) Validate() error {
	var errs []error
	for _, s := range cfg.Sources {
		switch s {
		case store.KeySourceWKD, store.KeySourceDANE, store.KeySourceHKP, store.KeySourceAutocrypt:
		default:
			errs = append(errs, fmt.Errorf("%s: unknown source %q (want wkd, dane, hkp, autocrypt)", EnvSources, s))
		}
	}
	for _, list := range [][]string{cfg.HKPServers, cfg.HKPUpload} {
		for _, s := range list {
			if _, err := keydiscovery.BaseURL(s); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s must be positive", EnvTimeout))
	}
	if cfg.MaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("%s must be at least 1024", EnvMaxBytes))
	}
	if cfg.WKDPort < 1 || cfg.WKDPort > 65535 {
		errs = append(errs, fmt.Errorf("%s must be a port", EnvWKDPort))
	}
	if cfg.has(store.KeySourceDANE) && cfg.DNSServer == "" {
		errs = append(errs, fmt.Errorf("%s: no resolver configured or found in /etc/resolv.conf", EnvDNSServer))
	}
	return errors.Join(errs...)
}

// has says whether source is enabled.
func (cfg Config) has(source string) bool {
	for _, s := range cfg.Sources {
		if s == source {
			return true
		}
	}
	return false
}
