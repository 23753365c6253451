// Package natsembed runs a NATS server with JetStream inside the process,
// for the one-machine system and for tests. It listens on loopback only.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures the embedded server.
type Options struct {
	// Host defaults to 127.0.0.1.
	Host string
	// Port: 0 picks a free port (never 4222 by accident).
	Port int
	// StoreDir keeps JetStream data; required.
	StoreDir string
	// MaxPayload in bytes; 0 keeps the server default (1 MiB).
	MaxPayload int32
	// Username and Password, when set, are the only credentials the server
	// accepts.
	Username, Password string
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*server.Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("natsembed: StoreDir is required")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "caliopen-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		Username:   o.Username,
		Password:   o.Password,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("natsembed: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("natsembed: server not ready on %s:%d", host, port)
	}
	return s, nil
}
