package smtplistener

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// limitListener admits at most cap(sem) connections at a time, and at most
// perAddr from one client address; a connection over a limit is answered
// 421 and closed at once, so the MTA retries later instead of waiting in
// the accept queue. An admitted connection is closed after maxSession.
type limitListener struct {
	net.Listener
	sem        chan struct{}
	addrs      *addrCounts
	maxSession time.Duration
	maxJunk    int
	log        *slog.Logger
}

// addrCounts counts the open connections of each client address.
type addrCounts struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func newAddrCounts(max int) *addrCounts { return &addrCounts{max: max, n: map[string]int{}} }

// take counts a connection from addr unless addr is at its limit.
func (a *addrCounts) take(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[addr] >= a.max {
		return false
	}
	a.n[addr]++
	return true
}

func (a *addrCounts) release(addr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n[addr]--; a.n[addr] <= 0 {
		delete(a.n, addr)
	}
}

// Accept returns the next admitted connection.
func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := hostOf(c.RemoteAddr())
		select {
		case l.sem <- struct{}{}:
		default:
			refuse(c, l.log, "too_many_connections", "421 4.7.0 Too many connections, try again later\r\n")
			continue
		}
		if !l.addrs.take(addr) {
			<-l.sem
			refuse(c, l.log, "too_many_connections_from_address", "421 4.7.0 Too many connections from your address, try again later\r\n")
			continue
		}
		g := &guardConn{Conn: c, maxJunk: l.maxJunk, log: l.log}
		g.release = func() {
			g.timer.Stop()
			l.addrs.release(addr)
			<-l.sem
		}
		g.timer = time.AfterFunc(l.maxSession, func() { g.end("session_time", "421 4.4.2 Session time limit reached, closing\r\n") })
		return g, nil
	}
}

// refuse answers c with reply and closes it.
func refuse(c net.Conn, log *slog.Logger, outcome, reply string) {
	log.Warn("connection refused", "outcome", outcome)
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte(reply))
	_ = c.Close()
}

// hostOf is the IP address of a TCP address, the whole address otherwise.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return a.String()
}
