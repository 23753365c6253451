// Package natstest starts the embedded NATS server (with JetStream) for a
// test and connects to it; both end with the test.
package natstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/natsembed"
)

// Start runs an embedded server whose JetStream store is in a temporary
// directory of t, and returns it with a connection to it.
func Start(t testing.TB) (*server.Server, *nats.Conn) {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return ns, nc
}
