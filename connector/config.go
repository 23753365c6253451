package connector

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsconn"
)

// Mode says where the topic map comes from.
type Mode string

// Topic map sources.
const (
	// ModeGateway reads the `topic` annotation of the functions that an
	// OpenFaaS-compatible gateway lists at /system/functions, and invokes them
	// at {gateway}/function/{name}.
	ModeGateway Mode = "gateway"
	// ModeStatic reads a YAML file listing functions, their URLs and topics
	// (Knative Services, or any HTTP endpoint).
	ModeStatic Mode = "static"
)

// Config is the connector's configuration. Every field is read from the
// environment by LoadConfig; the comment gives the variable and its default.
type Config struct {
	// NATS holds the connection settings (package natsconn: NATS_URL, ...).
	NATS natsconn.Config

	// Mode is CONNECTOR_MODE: gateway (default) or static.
	Mode Mode
	// GatewayURL is GATEWAY_URL (default http://127.0.0.1:8080).
	GatewayURL string
	// GatewayBasicAuth is GATEWAY_BASIC_AUTH (default false): read
	// basic-auth-user and basic-auth-password from SecretMountPath.
	GatewayBasicAuth bool
	// SecretMountPath is secret_mount_path (default /var/openfaas/secrets).
	SecretMountPath string
	// TopicMapFile is TOPIC_MAP_FILE, required in static mode.
	TopicMapFile string
	// RebuildInterval is REBUILD_INTERVAL (default 5s): how often the topic
	// map is read again from the gateway.
	RebuildInterval time.Duration

	// MaxInflight is MAX_INFLIGHT (default 64): concurrent invocations per function.
	MaxInflight int
	// MaxPending is MAX_PENDING (default 4096): requests waiting for a slot,
	// across functions; beyond it a request is answered "overloaded" at once.
	MaxPending int
	// ReplyMargin is REPLY_MARGIN (default 1s): the invocation of a request
	// ends this long before the requester's deadline, so the error reply
	// still reaches it in time.
	ReplyMargin time.Duration
	// EventTimeout is EVENT_TIMEOUT (default 60s): one invocation of a
	// publish/subscribe order.
	EventTimeout time.Duration

	// MaxAttempts is MAX_ATTEMPTS (default 8): deliveries of a publish/subscribe
	// order before it goes to the dead-letter subject.
	MaxAttempts int
	// BackoffBase is BACKOFF_BASE (default 1s) and BackoffMax BACKOFF_MAX
	// (default 5m): redelivery delay base*2^(attempt-1), capped, with jitter.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// StreamName is STREAM_NAME (default CALIOPEN_ORDERS): the JetStream
	// stream capturing the publish/subscribe subjects.
	StreamName string
	// StreamReplicas is STREAM_REPLICAS (default 1): the JetStream replicas
	// of the order and dead-letter streams, 3 on a three-node NATS cluster
	// so that losing a node loses no order.
	StreamReplicas int
	// DLQPrefix is DLQ_PREFIX (default caliopen.dlq): dead letters go to
	// {prefix}.{subject}, kept in stream {StreamName}_DLQ.
	DLQPrefix string
	// HandoffPrefix is HANDOFF_PREFIX (default caliopen.handoff): published
	// (not requested) orders on request/reply subjects are moved to
	// {prefix}.{subject} in the stream, for at-least-once processing.
	HandoffPrefix string

	// HTTPAddr is HTTP_ADDR (default :8081): /metrics, /healthz, /readyz.
	HTTPAddr string
	// DrainTimeout is DRAIN_TIMEOUT (default 30s): how long in-flight work
	// may finish after SIGTERM.
	DrainTimeout time.Duration
	// StallAfter is STALL_AFTER (default 30s): a consumer that has received
	// nothing for this long while JetStream holds events for it is logged,
	// counted and restarted.
	StallAfter time.Duration
	// LogLevel is LOG_LEVEL (default info).
	LogLevel string

	// InvokeKeys sign every invocation (package invokeauth): from
	// CALIOPEN_INVOKE_KEY_FILE or CALIOPEN_INVOKE_KEY, required by LoadConfig
	// unless CALIOPEN_INVOKE_INSECURE=true. Nil signs nothing.
	InvokeKeys *invokeauth.Keys
	// pullerHook, when set, sees each consumer's puller before it starts
	// (tests stand in for a pull request the server never answers).
	pullerHook func(*puller)
}

// EnvNames lists every variable LoadConfig reads.
var envNames = []string{
	"CONNECTOR_MODE", "GATEWAY_URL", "GATEWAY_BASIC_AUTH", "secret_mount_path", "TOPIC_MAP_FILE",
	"REBUILD_INTERVAL", "MAX_INFLIGHT", "MAX_PENDING", "REPLY_MARGIN", "EVENT_TIMEOUT", "MAX_ATTEMPTS",
	"BACKOFF_BASE", "BACKOFF_MAX", "STREAM_NAME", "STREAM_REPLICAS", "DLQ_PREFIX", "HANDOFF_PREFIX", "HTTP_ADDR",
	"DRAIN_TIMEOUT", "LOG_LEVEL", "STALL_AFTER",
	invokeauth.EnvKey, invokeauth.EnvKey + "_FILE", invokeauth.EnvInsecure,
}

// EnvNames returns the environment variables LoadConfig reads.
func EnvNames() []string { return append(natsconn.EnvNames(), envNames...) }

// DefaultConfig returns the defaults LoadConfig starts from.
func DefaultConfig() Config {
	return Config{
		NATS:            natsconn.Config{URL: "nats://127.0.0.1:4222", Name: "caliopen-connector"},
		Mode:            ModeGateway,
		GatewayURL:      "http://127.0.0.1:8080",
		SecretMountPath: "/var/openfaas/secrets",
		RebuildInterval: 5 * time.Second,
		MaxInflight:     64,
		MaxPending:      4096,
		ReplyMargin:     time.Second,
		EventTimeout:    60 * time.Second,
		MaxAttempts:     8,
		BackoffBase:     time.Second,
		BackoffMax:      5 * time.Minute,
		StreamName:      "CALIOPEN_ORDERS",
		StreamReplicas:  1,
		DLQPrefix:       "caliopen.dlq",
		HandoffPrefix:   "caliopen.handoff",
		HTTPAddr:        ":8081",
		DrainTimeout:    30 * time.Second,
		LogLevel:        "info",
		StallAfter:      30 * time.Second,
	}
}

// LoadConfig reads the configuration from getenv, starting from
// DefaultConfig, and reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	str := func(name string, dst *string) {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			*dst = v
		}
	}
	dur := func(name string, dst *time.Duration) {
		errs = append(errs, envconf.PositiveDuration(getenv, name, dst))
	}
	num := func(name string, dst *int) { errs = append(errs, envconf.PositiveInt(getenv, name, dst)) }
	boolean := func(name string, dst *bool) { errs = append(errs, envconf.Bool(getenv, name, dst)) }

	nc, err := natsconn.LoadConfig(getenv, c.NATS.Name)
	if err != nil {
		errs = append(errs, err)
	}
	c.NATS = nc
	var mode string
	str("CONNECTOR_MODE", &mode)
	if mode != "" {
		c.Mode = Mode(mode)
	}
	str("GATEWAY_URL", &c.GatewayURL)
	boolean("GATEWAY_BASIC_AUTH", &c.GatewayBasicAuth)
	str("secret_mount_path", &c.SecretMountPath)
	str("TOPIC_MAP_FILE", &c.TopicMapFile)
	dur("REBUILD_INTERVAL", &c.RebuildInterval)
	num("MAX_INFLIGHT", &c.MaxInflight)
	num("MAX_PENDING", &c.MaxPending)
	dur("REPLY_MARGIN", &c.ReplyMargin)
	dur("EVENT_TIMEOUT", &c.EventTimeout)
	num("MAX_ATTEMPTS", &c.MaxAttempts)
	dur("BACKOFF_BASE", &c.BackoffBase)
	dur("BACKOFF_MAX", &c.BackoffMax)
	str("STREAM_NAME", &c.StreamName)
	num("STREAM_REPLICAS", &c.StreamReplicas)
	str("DLQ_PREFIX", &c.DLQPrefix)
	str("HANDOFF_PREFIX", &c.HandoffPrefix)
	str("HTTP_ADDR", &c.HTTPAddr)
	dur("DRAIN_TIMEOUT", &c.DrainTimeout)
	str("LOG_LEVEL", &c.LogLevel)
	if c.InvokeKeys, err = invokeauth.Load(getenv); err != nil {
		errs = append(errs, err)
	}
	dur("STALL_AFTER", &c.StallAfter)

	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("connector config: %w", err)
	}
	return c, nil
}

// Validate checks the fields that depend on each other.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeGateway:
		if u, err := url.Parse(c.GatewayURL); err != nil || u.Scheme == "" || u.Host == "" {
			errs = append(errs, fmt.Errorf("GATEWAY_URL: want an absolute URL, got %q", c.GatewayURL))
		}
	case ModeStatic:
		if c.TopicMapFile == "" {
			errs = append(errs, errors.New("TOPIC_MAP_FILE: required when CONNECTOR_MODE=static"))
		}
	default:
		errs = append(errs, fmt.Errorf("CONNECTOR_MODE: want gateway or static, got %q", c.Mode))
	}
	if err := c.NATS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.StallAfter <= 0 {
		errs = append(errs, fmt.Errorf("STALL_AFTER: want a positive duration, got %s", c.StallAfter))
	}
	if c.BackoffMax < c.BackoffBase {
		errs = append(errs, fmt.Errorf("BACKOFF_MAX (%s) must not be below BACKOFF_BASE (%s)", c.BackoffMax, c.BackoffBase))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("STREAM_REPLICAS: want 1 to 5 (JetStream's limit), got %d", c.StreamReplicas))
	}
	for name, v := range map[string]string{"STREAM_NAME": c.StreamName} {
		if strings.ContainsAny(v, ". *>\t") || v == "" {
			errs = append(errs, fmt.Errorf("%s: %q must be a non-empty name without dots, spaces or wildcards", name, v))
		}
	}
	for name, v := range map[string]string{"DLQ_PREFIX": c.DLQPrefix, "HANDOFF_PREFIX": c.HandoffPrefix} {
		if strings.ContainsAny(v, " *>\t") || v == "" || strings.HasSuffix(v, ".") {
			errs = append(errs, fmt.Errorf("%s: %q must be a plain subject prefix", name, v))
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel))
	}
	return errors.Join(errs...)
}
