// Package connectortest starts a connector for the system tests: in
// gateway mode before a gateway, signing with the keys given, stopped and
// drained when the test ends.
package connectortest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/invokeauth"
)

// Start runs a connector on NATS at natsURL before the gateway at
// gatewayURL, with short backoffs, and returns its configuration (its
// stream's name) and the registry of its metrics.
func Start(t *testing.T, natsURL, gatewayURL string, keys *invokeauth.Keys) (connector.Config, *prometheus.Registry) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	cfg := connector.DefaultConfig()
	cfg.NATS.URL, cfg.GatewayURL, cfg.InvokeKeys = natsURL, gatewayURL, keys
	cfg.BackoffBase, cfg.BackoffMax = 50*time.Millisecond, 200*time.Millisecond
	reg := prometheus.NewRegistry()
	c, err := connector.New(cfg, connector.Deps{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Registry: reg,
		Contract: contract.Caliopen(), Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { c.Serve(ctx); close(served) }()
	t.Cleanup(func() {
		cancel()
		<-served
		if err := c.Drain(); err != nil {
			t.Error(err)
		}
	})
	return cfg, reg
}
