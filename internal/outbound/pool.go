package outbound

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/tracing"
)

// Pool keeps connections to SMTP servers open between messages, as an
// MTA's connection cache does: a message to a server with an idle
// connection skips the connect, greeting, TLS handshake and AUTH, on both
// sides. Connections are kept per server and credentials, at most MaxIdle
// each, for at most IdleTimeout (below the five minutes a server may wait,
// RFC 5321 §4.5.3.2.7). Safe for concurrent use.
//
// Exactly once: a message is retried on a new connection only when an
// idle connection turns out to be gone before anything of the message was
// accepted (MAIL FROM failed without an answer, or with 421); a failure
// after that is returned as Send returns it.
type Pool struct {
	maxIdle     int
	idleTimeout time.Duration
	now         func() time.Time

	mu     sync.Mutex
	idle   map[string][]*session
	closed bool
}

// NewPool returns a Pool keeping up to maxIdle connections a server for
// idleTimeout (defaults 32 and 30 s when not positive).
func NewPool(maxIdle int, idleTimeout time.Duration) *Pool {
	if maxIdle <= 0 {
		maxIdle = 32
	}
	if idleTimeout <= 0 {
		idleTimeout = 30 * time.Second
	}
	return &Pool{maxIdle: maxIdle, idleTimeout: idleTimeout, now: time.Now, idle: map[string][]*session{}}
}

// Send is Send on a kept connection when there is one.
func (p *Pool) Send(ctx context.Context, srv Server, from string, to []string, raw []byte) (err error) {
	ctx, span := tracing.Start(ctx, "smtp send", trace.SpanKindClient,
		attribute.String("server.address", srv.Addr), attribute.Int("caliopen.recipients", len(to)))
	defer func() { tracing.End(span, err) }()
	if err := srv.Check(); err != nil {
		return sendErr("config", err)
	}
	ctx, cancel := context.WithTimeout(ctx, srv.timeout())
	defer cancel()
	key := poolKey(srv)
	for {
		s := p.take(key)
		reused := s != nil
		if s == nil {
			var serr *SendError
			if s, serr = open(ctx, srv); serr != nil {
				return serr
			}
		}
		serr := s.mail(ctx, from, to, raw)
		if serr == nil {
			p.put(key, s)
			return nil
		}
		s.close()
		if reused && serr.Stage == "mail" && (serr.Code == 0 || serr.Code == 421) && ctx.Err() == nil {
			continue // the kept connection was gone: nothing was taken
		}
		return serr
	}
}

// Close says QUIT on the idle connections and closes them; Send still
// works, without keeping.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var idle []*session
	for key, ss := range p.idle {
		idle = append(idle, ss...)
		delete(p.idle, key)
	}
	p.mu.Unlock()
	for _, s := range idle {
		s.quit()
	}
}

// take returns the most recently used idle connection of key, closing
// the expired ones; nil when there is none.
func (p *Pool) take(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.idle[key]
	for len(ss) > 0 {
		s := ss[len(ss)-1]
		ss = ss[:len(ss)-1]
		if p.now().Sub(s.last) < p.idleTimeout {
			p.idle[key] = ss
			return s
		}
		s.close()
	}
	delete(p.idle, key)
	return nil
}

// put keeps s for key, or closes it when the pool is full or closed.
func (p *Pool) put(key string, s *session) {
	p.mu.Lock()
	keep := !p.closed && len(p.idle[key]) < p.maxIdle
	if keep {
		s.last = p.now()
		p.idle[key] = append(p.idle[key], s)
	}
	p.mu.Unlock()
	if !keep {
		s.quit()
	}
}

// poolKey names what a connection was opened with: the server, how it is
// secured and the credentials (hashed).
func poolKey(srv Server) string {
	secret := sha256.Sum256([]byte(srv.Password + "\x00" + srv.Token))
	return fmt.Sprintf("%s|%s|%p|%s|%s|%s|%s", srv.Addr, srv.tlsMode(), srv.TLSConfig, srv.authName(), srv.Username,
		hex.EncodeToString(secret[:8]), helloName(srv))
}
