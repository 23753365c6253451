package inboundtwitter

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/caliopen/functions/internal/blob"
	"github.com/caliopen/functions/internal/fnhttp"
)

// Name is the function's name in the contract and stack.yml.
const Name = "inbound-twitter"

// EnvMaxRawBytes names the largest raw event the function loads (default
// DefaultMaxRawBytes).
const EnvMaxRawBytes = "INBOUND_TWITTER_MAX_RAW_BYTES"

// DefaultMaxRawBytes bounds a raw event: a direct message is at most
// 10,000 characters, with its users and media far below this.
const DefaultMaxRawBytes int64 = 256 << 10

// MaxDepth bounds the JSON nesting of a raw event (the API's is 4).
const MaxDepth = 16

// Config configures the function.
type Config struct {
	// MaxRawBytes bounds the raw event loaded; 0 means DefaultMaxRawBytes.
	MaxRawBytes int64
}

// LoadConfig reads Config from the environment, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	var cfg Config
	var errs []error
	if v := strings.TrimSpace(getenv(EnvMaxRawBytes)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number of bytes", EnvMaxRawBytes, v))
		}
		cfg.MaxRawBytes = n
	}
	return cfg, errors.Join(errs...)
}

// Deps are the function's dependencies; Store and Blobs are required.
type Deps struct {
	Store  Store
	Blobs  blob.Store
	Logger *slog.Logger // nil discards
}

// Build builds the function from the shared environment's parts (package
// functions imports this one, so it takes them one by one).
func Build(getenv func(string) string, deps Deps) (fnhttp.Core, error) {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	return New(cfg, deps)
}
