package inboundemail

import (
	"log/slog"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/fnhttp"
)

// EnvMaxRawBytes names the largest raw message the function loads
// (default DefaultMaxRawBytes); larger ones are refused permanently.
const EnvMaxRawBytes = "INBOUND_MAX_RAW_BYTES"

// DefaultMaxRawBytes is the default of Config.MaxRawBytes: 64 MiB, above the
// listener's default message size.
const DefaultMaxRawBytes int64 = 64 << 20

// Config configures the function.
type Config struct {
	// MaxRawBytes bounds the raw message loaded; 0 means DefaultMaxRawBytes.
	MaxRawBytes int64
}

// LoadConfig reads Config from the environment (INBOUND_MAX_RAW_BYTES) and
// reports every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	err := envconf.PositiveInt64(getenv, EnvMaxRawBytes, &cfg.MaxRawBytes)
	return cfg, err
}

// Deps are the function's dependencies.
type Deps struct {
	Store  Store
	Blobs  blob.Store
	Logger *slog.Logger // nil discards
}

// Build builds inbound-email from its environment (LoadConfig, every problem at
// once) and its dependencies. Every function's Build has this shape; the
// registry (package functions) passes the shared parts and a logger that
// already carries "fn".
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
