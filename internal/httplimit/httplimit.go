// Package httplimit bounds what one client can hold of an HTTP server: the
// time to send the header, the time between two reads of the body and to
// read all of it, idle keep-alive connections, the header's size and the
// number of open connections. The local system's gateway and the function
// servers use it, so that slow or trickling clients (a body byte every few
// seconds) cannot keep connections open.
package httplimit

import (
	"cmp"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Config holds the limits. Zero fields take Default's values; every
// value must be positive.
type Config struct {
	// ReadHeaderTimeout bounds the request line and header. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, body included. Default 60s.
	ReadTimeout time.Duration
	// BodyIdleTimeout bounds each read of the body: a client that sends
	// nothing for that long loses the connection. Default 5s.
	BodyIdleTimeout time.Duration
	// IdleTimeout bounds a keep-alive connection between requests.
	// Default 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request header. Default 64 KiB.
	MaxHeaderBytes int
	// MaxConns bounds the open connections; beyond it new ones wait to be
	// accepted. Default 1024.
	MaxConns int
}

// Default returns the default limits.
func Default() Config {
	return Config{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, BodyIdleTimeout: 5 * time.Second,
		IdleTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10, MaxConns: 1024}
}

func (c Config) withDefaults() Config {
	d := Default()
	return Config{
		ReadHeaderTimeout: cmp.Or(c.ReadHeaderTimeout, d.ReadHeaderTimeout),
		ReadTimeout:       cmp.Or(c.ReadTimeout, d.ReadTimeout),
		BodyIdleTimeout:   cmp.Or(c.BodyIdleTimeout, d.BodyIdleTimeout),
		IdleTimeout:       cmp.Or(c.IdleTimeout, d.IdleTimeout),
		MaxHeaderBytes:    cmp.Or(c.MaxHeaderBytes, d.MaxHeaderBytes),
		MaxConns:          cmp.Or(c.MaxConns, d.MaxConns),
	}
}

// Server returns a server for h with the limits set; errorLog may be nil.
// WriteTimeout is left to the handlers (a function extends its own write
// deadline to its call's).
func (c Config) Server(h http.Handler, errorLog *log.Logger) *http.Server {
	c = c.withDefaults()
	return &http.Server{
		Handler:           BodyIdle(h, c.BodyIdleTimeout, c.ReadTimeout),
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Listener bounds ln to MaxConns open connections.
func (c Config) Listener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, c.withDefaults().MaxConns)
}

// BodyIdle gives each read of a request's body idle time to complete: the
// connection's read deadline moves to now+idle before each read, never past
// total after the handler started (the server's ReadTimeout, which moving
// the deadline would otherwise undo).
func BodyIdle(h http.Handler, idle, total time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: idle,
				limit: time.Now().Add(total)}
		}
		h.ServeHTTP(w, r)
	})
}

// idleBody moves the read deadline before each read.
type idleBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	idle  time.Duration
	limit time.Time
}

func (b *idleBody) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if d.After(b.limit) {
		d = b.limit
	}
	_ = b.rc.SetReadDeadline(d) // fails only without a connection (in process): nothing to bound
	return b.ReadCloser.Read(p)
}
