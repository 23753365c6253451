package smtplistener

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/envconf"
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

	EnvMaxPerAddr = "SMTP_MAX_CONNECTIONS_PER_ADDR" // connections from one client address, default 20 (at most SMTP_MAX_CONNECTIONS)
	// EnvMaxPerNetwork bounds one client network (IPv4 /24, IPv6 /64), default a tenth of SMTP_MAX_CONNECTIONS
	// (at least SMTP_MAX_CONNECTIONS_PER_ADDR): no network takes more than that share of the slots.
	EnvMaxPerNetwork = "SMTP_MAX_CONNECTIONS_PER_NETWORK"
	EnvMaxSession    = "SMTP_MAX_SESSION_TIME"  // a session's whole length, default 10m
	EnvMaxJunk       = "SMTP_MAX_JUNK_COMMANDS" // NOOP, RSET, VRFY, unknown... without a message, default 20
	EnvMaxBadRcpts   = "SMTP_MAX_UNKNOWN_RCPTS" // unknown recipients in a session, default 20
	EnvTarpitAfter   = "SMTP_TARPIT_AFTER"      // unknown recipients answered at once, default 3
	EnvTarpitDelay   = "SMTP_TARPIT_DELAY"      // first delay after those, doubling, default 1s
	EnvTarpitMax     = "SMTP_TARPIT_MAX_DELAY"  // longest delay, default 16s
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

	// MaxPerAddr bounds the connections of one client address at a time.
	MaxPerAddr int
	// MaxPerNetwork bounds the connections of one client network (an
	// IPv4 /24, an IPv6 /64) at a time, so that one network never holds
	// more than this share of MaxConnections.
	MaxPerNetwork int
	// MaxSession ends a session (421) this long after it began.
	MaxSession time.Duration
	// MaxJunk ends a session (421) past this many commands that move no
	// mail (NOOP, RSET, VRFY, HELP, repeated greetings, unknown commands)
	// since the last message accepted.
	MaxJunk int
	// MaxBadRcpts ends a session (421) past this many unknown recipients.
	MaxBadRcpts int
	// Unknown recipients after the first TarpitAfter are answered after
	// TarpitDelay, doubled for each next one, at most TarpitMax.
	TarpitAfter int
	TarpitDelay time.Duration
	TarpitMax   time.Duration
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
	num := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	num(&c.MaxRecipients, 100)
	num(&c.MaxConnections, 1000)
	num(&c.MaxPerAddr, min(20, c.MaxConnections))
	num(&c.MaxPerNetwork, min(max(c.MaxConnections/10, c.MaxPerAddr), c.MaxConnections))
	num(&c.MaxJunk, 20)
	num(&c.MaxBadRcpts, 20)
	num(&c.TarpitAfter, 3)
	def(&c.MaxSession, 10*time.Minute)
	def(&c.TarpitDelay, time.Second)
	def(&c.TarpitMax, 16*time.Second)
	def(&c.ReadTimeout, 60*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.DataTimeout, 5*time.Minute)
	def(&c.ProcessTimeout, contract.InboundDeadline)
	return c
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBytes < 0 || c.MaxRecipients < 0 || c.MaxConnections < 0 || c.MaxPerAddr < 0 || c.MaxPerNetwork < 0 || c.MaxJunk < 0 ||
		c.MaxBadRcpts < 0 || c.TarpitAfter < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	if c.MaxPerAddr > c.MaxConnections && c.MaxConnections > 0 {
		errs = append(errs, fmt.Errorf("%s %d is over %s %d", EnvMaxPerAddr, c.MaxPerAddr, EnvMaxConnections, c.MaxConnections))
	}
	if c.MaxPerNetwork > c.MaxConnections && c.MaxConnections > 0 {
		errs = append(errs, fmt.Errorf("%s %d is over %s %d", EnvMaxPerNetwork, c.MaxPerNetwork, EnvMaxConnections, c.MaxConnections))
	}
	if c.MaxPerAddr > c.MaxPerNetwork && c.MaxPerNetwork > 0 {
		errs = append(errs, fmt.Errorf("%s %d is over %s %d", EnvMaxPerAddr, c.MaxPerAddr, EnvMaxPerNetwork, c.MaxPerNetwork))
	}
	if c.TarpitMax < c.TarpitDelay {
		errs = append(errs, fmt.Errorf("%s %s is under %s %s", EnvTarpitMax, c.TarpitMax, EnvTarpitDelay, c.TarpitDelay))
	}
	for name, d := range map[string]time.Duration{EnvReadTimeout: c.ReadTimeout, EnvWriteTimeout: c.WriteTimeout,
		EnvDataTimeout: c.DataTimeout, EnvProcessTimeout: c.ProcessTimeout, EnvMaxSession: c.MaxSession,
		EnvTarpitDelay: c.TarpitDelay, EnvTarpitMax: c.TarpitMax} {
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
		var n int64
		errs = append(errs, envconf.PositiveInt64(getenv, name, &n))
		return n
	}
	dur := func(name string) time.Duration {
		var d time.Duration
		errs = append(errs, envconf.PositiveDuration(getenv, name, &d))
		return d
	}
	c := Config{
		Addr: str(EnvAddr), LMTPAddr: str(EnvLMTPAddr), Domain: str(EnvDomain),
		MaxBytes: num(EnvMaxBytes), MaxRecipients: int(num(EnvMaxRecipients)),
		MaxConnections: int(num(EnvMaxConnections)),
		ReadTimeout:    dur(EnvReadTimeout), WriteTimeout: dur(EnvWriteTimeout), DataTimeout: dur(EnvDataTimeout),
		ProcessTimeout: dur(EnvProcessTimeout),
		TLSCertFile:    str(EnvTLSCert), TLSKeyFile: str(EnvTLSKey),
		MaxPerAddr: int(num(EnvMaxPerAddr)), MaxPerNetwork: int(num(EnvMaxPerNetwork)), MaxSession: dur(EnvMaxSession), MaxJunk: int(num(EnvMaxJunk)),
		MaxBadRcpts: int(num(EnvMaxBadRcpts)), TarpitAfter: int(num(EnvTarpitAfter)),
		TarpitDelay: dur(EnvTarpitDelay), TarpitMax: dur(EnvTarpitMax),
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
