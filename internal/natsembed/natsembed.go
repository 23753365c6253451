// Package natsembed runs a NATS server with JetStream inside the process,
// for the one-machine system and for tests. It listens on loopback unless
// told otherwise, and, given users, accepts no one else.
package natsembed

import (
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
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
	// accepts (with every permission).
	Username, Password string
	// Users, when set, are the only clients the server accepts (no
	// anonymous connection), each with its permissions.
	Users []User
}

// User is one client the server accepts.
type User struct {
	Name, Password string
	// Publish and Subscribe are the subjects the user may publish to and
	// subscribe to ("subject" or "subject queue"); none denies them all.
	Publish, Subscribe []string
	// Responses lets the user answer the requests it receives.
	Responses bool
	// InProcessOnly accepts the user only on an in-process connection
	// (nats.InProcessServer), never over the network.
	InProcessOnly bool
}

// serverUsers turns users into the server's.
func serverUsers(users []User) []*server.User {
	out := make([]*server.User, 0, len(users))
	perm := func(allow []string) *server.SubjectPermission {
		if len(allow) == 0 {
			return &server.SubjectPermission{Deny: []string{">"}}
		}
		return &server.SubjectPermission{Allow: allow}
	}
	for _, u := range users {
		p := &server.Permissions{Publish: perm(u.Publish), Subscribe: perm(u.Subscribe)}
		if u.Responses {
			p.Response = &server.ResponsePermission{MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS,
				Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
		}
		su := &server.User{Username: u.Name, Password: u.Password, Permissions: p}
		if u.InProcessOnly {
			su.AllowedConnectionTypes = map[string]struct{}{jwt.ConnectionTypeInProcess: {}}
		}
		out = append(out, su)
	}
	return out
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
	opts := &server.Options{
		ServerName: "caliopen-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		NoLog:      true,
		NoSigs:     true,
	}
	if o.Username != "" {
		opts.Username, opts.Password = o.Username, o.Password
	}
	if len(o.Users) > 0 {
		opts.Users = serverUsers(o.Users)
	}
	s, err := server.NewServer(opts)
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
