package smtplistener

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// limitListener admits at most cap(sem) connections at a time; a connection
// over the limit is answered 421 and closed at once, so the MTA retries
// later instead of waiting in the accept queue.
type limitListener struct {
	net.Listener
	sem chan struct{}
	log *slog.Logger
}

// Accept returns the next admitted connection.
func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			l.log.Warn("connection refused", "outcome", "too_many_connections")
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			_ = c.Close()
		}
	}
}

// limitConn releases its slot once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
