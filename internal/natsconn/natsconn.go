// Package natsconn connects to NATS the same way everywhere: one set of
// environment variables for the servers, authentication (user and password,
// token, NKey seed file, creds file) and TLS, and reconnection forever with
// jitter.
package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/secretenv"
)

// Options turns the settings into client options: authentication (user
// and password, token, NKey seed file or creds file), TLS, and reconnection
// forever with jitter. Connection events are logged and counted.
func (c Config) Options(logger *slog.Logger, onReconnect func()) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
			if onReconnect != nil {
				onReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Error("nats async error", "subject", subject, "err", err)
		}),
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed %s: %w", c.NKeySeedFile, err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.InProcess != nil {
		opts = append(opts, nats.InProcessServer(c.InProcess))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	if c.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	return opts, nil
}

// Config holds the connection settings. LoadConfig reads each from the
// variable named in its comment.
type Config struct {
	// URL is NATS_URL (default nats://127.0.0.1:4222), comma-separated for several servers.
	URL string
	// User and Password are NATS_USER and NATS_PASSWORD (or the file named
	// by NATS_PASSWORD_FILE).
	User, Password string
	// Token is NATS_TOKEN (or the file named by NATS_TOKEN_FILE).
	Token string
	// NKeySeedFile is NATS_NKEY_SEED_FILE.
	NKeySeedFile string
	// CredsFile is NATS_CREDS_FILE (JWT + seed).
	CredsFile string
	// TLSCAFile, TLSCertFile and TLSKeyFile are NATS_TLS_CA_FILE,
	// NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// Name is the client name shown by the server (NATS_CLIENT_NAME).
	Name string
	// InboxPrefix is NATS_INBOX_PREFIX (default nats.go's _INBOX): the
	// prefix of the subjects replies come back on. A server that gives each
	// component its own prefix (and the permission to subscribe to it
	// alone) keeps one component from reading another's replies.
	InboxPrefix string
	// InProcess, when set, connects to this server inside the process
	// rather than over the network (the local system's own parts); never
	// from the environment.
	InProcess nats.InProcessConnProvider
}

// EnvNames lists the variables LoadConfig reads.
func EnvNames() []string {
	return []string{"NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_PASSWORD_FILE", "NATS_TOKEN", "NATS_TOKEN_FILE", "NATS_NKEY_SEED_FILE", "NATS_CREDS_FILE",
		"NATS_TLS_CA_FILE", "NATS_TLS_CERT_FILE", "NATS_TLS_KEY_FILE", "NATS_CLIENT_NAME", "NATS_INBOX_PREFIX"}
}

// LoadConfig reads the settings, with name as the default client name, and
// reports every problem at once.
func LoadConfig(getenv func(string) string, name string) (Config, error) {
	c := Config{URL: "nats://127.0.0.1:4222", Name: name}
	set := func(dst *string, key string, trim bool) {
		v := getenv(key)
		if trim {
			v = strings.TrimSpace(v)
		}
		if v != "" {
			*dst = v
		}
	}
	var errs []error
	secret := func(dst *string, key string) {
		v, err := secretenv.Value(getenv, key)
		if err != nil {
			errs = append(errs, err)
		}
		if v != "" {
			*dst = v
		}
	}
	set(&c.URL, "NATS_URL", true)
	set(&c.User, "NATS_USER", true)
	secret(&c.Password, "NATS_PASSWORD")
	secret(&c.Token, "NATS_TOKEN")
	set(&c.NKeySeedFile, "NATS_NKEY_SEED_FILE", true)
	set(&c.CredsFile, "NATS_CREDS_FILE", true)
	set(&c.TLSCAFile, "NATS_TLS_CA_FILE", true)
	set(&c.TLSCertFile, "NATS_TLS_CERT_FILE", true)
	set(&c.TLSKeyFile, "NATS_TLS_KEY_FILE", true)
	set(&c.Name, "NATS_CLIENT_NAME", true)
	set(&c.InboxPrefix, "NATS_INBOX_PREFIX", true)
	errs = append(errs, c.Validate())
	return c, errors.Join(errs...)
}

// Validate checks settings that depend on each other.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("NATS_URL: required"))
	}
	if c.User != "" && c.Password == "" {
		errs = append(errs, errors.New("NATS_PASSWORD: required with NATS_USER"))
	}
	auth := 0
	for _, set := range []bool{c.User != "", c.Token != "", c.NKeySeedFile != "", c.CredsFile != ""} {
		if set {
			auth++
		}
	}
	if auth > 1 {
		errs = append(errs, errors.New("NATS auth: set only one of NATS_USER, NATS_TOKEN, NATS_NKEY_SEED_FILE, NATS_CREDS_FILE"))
	}
	if p := c.InboxPrefix; p != "" && (strings.ContainsAny(p, "*> \t") || strings.HasPrefix(p, ".") ||
		strings.HasSuffix(p, ".") || strings.Contains(p, "..")) {
		errs = append(errs, fmt.Errorf("NATS_INBOX_PREFIX %q: want a subject without wildcards, spaces or a trailing dot", p))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE: set both or neither"))
	}
	return errors.Join(errs...)
}

// Connect dials with the settings' options.
func (c Config) Connect(logger *slog.Logger, onReconnect func()) (*nats.Conn, error) {
	opts, err := c.Options(logger, onReconnect)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	return nc, nil
}
