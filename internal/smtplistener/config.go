package smtplistener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
)

// Environment variables read by LoadConfig.
const (
	EnvAddr           = "SMTP_LISTEN_ADDR"       // SMTP address, default ":2525"
	EnvLMTPAddr       = "LMTP_LISTEN_ADDR"       // LMTP address, default none (LMTP off)
	EnvDomain         = "SMTP_DOMAIN"            // host name in the greeting, default "localhost"
	EnvMaxBytes       = "SMTP_MAX_MESSAGE_BYTES" // default 20971520 (the original's)
	EnvMaxRecipients  = "SMTP_MAX_RECIPIENTS"    // default 100
	EnvMaxConnections = "SMTP_MAX_CONNECTIONS"   // default 1000
	EnvReadTimeout    = "SMTP_READ_TIMEOUT"      // default 60s
	EnvWriteTimeout   = "SMTP_WRITE_TIMEOUT"     // default 60s
	EnvDataTimeout    = "SMTP_DATA_TIMEOUT"      // default 5m
	EnvProcessTimeout = "SMTP_PROCESS_TIMEOUT"   // default and maximum 10s (the contract's)
	EnvTLSCert        = "SMTP_TLS_CERT_FILE"     // with SMTP_TLS_KEY_FILE: offer STARTTLS
	EnvTLSKey         = "SMTP_TLS_KEY_FILE"
)

// Config configures the listener. LoadConfig fills the defaults; a Config
// built by hand gets them from WithDefaults.
type Config struct {
	Addr           string
	LMTPAddr       string
	Domain         string
	MaxBytes       int64
	MaxRecipients  int
	MaxConnections int
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	DataTimeout    time.Duration
	// ProcessTimeout is the deadline of each process_inbound request.
	ProcessTimeout time.Duration
	TLSCertFile    string
	TLSKeyFile     string
	// TLS is loaded from the files by LoadConfig (nil: no STARTTLS).
	TLS *tls.Config
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Addr == "" {
		c.Addr = ":2525"
	}
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 20971520
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 100
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = 1000
	}
	def(&c.ReadTimeout, 60*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.DataTimeout, 5*time.Minute)
	def(&c.ProcessTimeout, contract.InboundDeadline)
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 || c.MaxRecipients < 0 || c.MaxConnections < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	for name, d := range map[string]time.Duration{EnvReadTimeout: c.ReadTimeout, EnvWriteTimeout: c.WriteTimeout,
		EnvDataTimeout: c.DataTimeout, EnvProcessTimeout: c.ProcessTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", name, d))
		}
	}
	if c.ProcessTimeout > contract.InboundDeadline {
		errs = append(errs, fmt.Errorf("%s %s is over the contract's %s", EnvProcessTimeout, c.ProcessTimeout,
			contract.InboundDeadline))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("%s and %s go together", EnvTLSCert, EnvTLSKey))
	}
	if c.Addr != "" && c.Addr == c.LMTPAddr {
		errs = append(errs, fmt.Errorf("%s and %s are the same address", EnvAddr, EnvLMTPAddr))
	}
	return errors.Join(errs...)
}

// LoadConfig reads Config from the environment, loads the TLS key pair when
// one is named, and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(name string) string { return strings.TrimSpace(getenv(name)) }
	num := func(name string) int64 {
		v := str(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive integer", name, v))
		}
		return n
	}
	dur := func(name string) time.Duration {
		v := str(name)
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v))
		}
		return d
	}
	c := Config{
		Addr: str(EnvAddr), LMTPAddr: str(EnvLMTPAddr), Domain: str(EnvDomain),
		MaxBytes: num(EnvMaxBytes), MaxRecipients: int(num(EnvMaxRecipients)),
		MaxConnections: int(num(EnvMaxConnections)),
		ReadTimeout:    dur(EnvReadTimeout), WriteTimeout: dur(EnvWriteTimeout), DataTimeout: dur(EnvDataTimeout),
		ProcessTimeout: dur(EnvProcessTimeout),
		TLSCertFile:    str(EnvTLSCert), TLSKeyFile: str(EnvTLSKey),
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.TLSCertFile != "" && c.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", EnvTLSCert, EnvTLSKey, err))
		} else {
			c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	return c, errors.Join(errs...)
}
