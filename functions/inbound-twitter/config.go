package inboundtwitter

import (
	"github.com/caliopen/functions/internal/dminbound"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/xinbound"
)

// Name is the function's name in the contract and stack.yml.
const Name = "inbound-twitter"

// EnvMaxRawBytes names the largest raw event the function loads (default
// DefaultMaxRawBytes).
const EnvMaxRawBytes = "INBOUND_TWITTER_MAX_RAW_BYTES"

// DefaultMaxRawBytes bounds a raw event.
const DefaultMaxRawBytes = xinbound.DefaultMaxRawBytes

// Config configures the function.
type Config = xinbound.Config

// Deps are the function's dependencies; Store and Blobs are required.
type Deps = xinbound.Deps

// New returns the function's core (package xinbound).
func New(cfg Config, deps Deps) (fnhttp.Core, error) { return xinbound.New(cfg, deps) }

// LoadConfig reads Config from the environment, every problem at once.
func LoadConfig(getenv func(string) string) (Config, error) {
	return dminbound.LoadConfig(getenv, EnvMaxRawBytes)
}

// Build builds inbound-twitter from its environment (LoadConfig, every problem at
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
