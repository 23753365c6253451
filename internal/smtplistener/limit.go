package smtplistener

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// limitListener admits at most cap(sem) connections at a time, at most
// perAddr from one client address and at most perNet from one client
// network (an IPv4 /24, an IPv6 /64: what one party usually holds); a
// connection over a limit is answered 421 and closed at once, so the MTA
// retries later instead of waiting in the accept queue. An admitted
// connection is closed after maxSession.
type limitListener struct {
	net.Listener
	sem        chan struct{}
	addrs      *addrCounts
	nets       *addrCounts
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
		addr, network := clientOf(c.RemoteAddr())
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
		if !l.nets.take(network) {
			l.addrs.release(addr)
			<-l.sem
			refuse(c, l.log, "too_many_connections_from_network", "421 4.7.0 Too many connections from your network, try again later\r\n")
			continue
		}
		g := &guardConn{Conn: c, maxJunk: l.maxJunk, log: l.log}
		g.release = func() {
			g.timer.Stop()
			l.nets.release(network)
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

// clientOf is the IP address of a TCP address and its network (the /24 of
// an IPv4 address, the /64 of an IPv6 one), the whole address twice
// otherwise.
func clientOf(a net.Addr) (addr, network string) {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String(), a.String()
	}
	ip, ok := netip.AddrFromSlice(t.IP)
	if !ok {
		return t.IP.String(), t.IP.String()
	}
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return ip.String(), p.String()
}
