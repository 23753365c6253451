package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/caliopen/functions/internal/envconf"
	"github.com/caliopen/functions/internal/netguard"
)

// Settings of the asynchronous path read by LoadAsyncConfig.
const (
	EnvAsyncMaxBody      = "CALIOPEN_ASYNC_MAX_BODY_BYTES"     // one call's body, default 1 MiB
	EnvAsyncPending      = "CALIOPEN_ASYNC_PENDING_PER_CLIENT" // a client's calls not finished, default 16
	EnvAsyncBurst        = "CALIOPEN_ASYNC_BURST_PER_CLIENT"   // a client's calls at once, default 16
	EnvAsyncEvery        = "CALIOPEN_ASYNC_EVERY_PER_CLIENT"   // then one call every, default 2s
	EnvAsyncStreamBytes  = "CALIOPEN_ASYNC_STREAM_MAX_BYTES"   // the stream's size, default 256 MiB
	EnvAsyncStreamMaxAge = "CALIOPEN_ASYNC_STREAM_MAX_AGE"     // the stream's age, default 24h
)

// Quota defaults of the asynchronous path.
const (
	DefaultAsyncMaxBody      int64 = 1 << 20
	DefaultAsyncPending            = 16
	DefaultAsyncBurst              = 16
	DefaultAsyncEvery              = 2 * time.Second
	DefaultAsyncStreamBytes  int64 = 256 << 20
	DefaultAsyncStreamMaxAge       = 24 * time.Hour
)

// LoadAsyncConfig is DefaultAsyncConfig with the quotas and the callbacks'
// egress allow list (netguard.EnvAllow) read from getenv; every problem is
// reported at once.
func LoadAsyncConfig(getenv func(string) string) (AsyncConfig, error) {
	cfg := DefaultAsyncConfig()
	var guardErr error
	cfg.Guard, guardErr = netguard.Load(getenv)
	var errs []error
	errs = append(errs, guardErr,
		envconf.PositiveInt64(getenv, EnvAsyncMaxBody, &cfg.MaxBodyBytes),
		envconf.PositiveInt(getenv, EnvAsyncPending, &cfg.PendingPerClient),
		envconf.PositiveInt(getenv, EnvAsyncBurst, &cfg.BurstPerClient),
		envconf.PositiveDuration(getenv, EnvAsyncEvery, &cfg.EveryPerClient),
		envconf.PositiveInt64(getenv, EnvAsyncStreamBytes, &cfg.StreamMaxBytes),
		envconf.PositiveDuration(getenv, EnvAsyncStreamMaxAge, &cfg.StreamMaxAge))
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("gateway async settings: %w", err)
	}
	return cfg, nil
}

// clientOf is the key of a call's client: its address, an IPv6 one by its
// /64 (the block one subscriber usually holds).
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// clientQuota is what one client may still queue: a rate (a burst, then
// one call every so often) and the calls stored and not finished.
type clientQuota struct {
	lim     *rate.Limiter
	pending int
}

// quotas holds the clients' quotas, the least recently seen forgotten
// first past 64k clients (a forgotten client starts afresh with a burst).
type quotas struct {
	mu      sync.Mutex
	cfg     AsyncConfig
	clients *lru.Cache[string, *clientQuota]
}

func newQuotas(cfg AsyncConfig) *quotas {
	c, _ := lru.New[string, *clientQuota](1 << 16)
	return &quotas{cfg: cfg, clients: c}
}

// take counts one more call of client, or says why it may not queue one.
func (q *quotas) take(client string) (retry time.Duration, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.clients.Get(client)
	if !ok {
		c = &clientQuota{lim: rate.NewLimiter(rate.Every(q.cfg.EveryPerClient), q.cfg.BurstPerClient)}
		q.clients.Add(client, c)
	}
	if c.pending >= q.cfg.PendingPerClient {
		return q.cfg.EveryPerClient, fmt.Sprintf("too many asynchronous calls not finished yet from your address (at most %d)",
			q.cfg.PendingPerClient)
	}
	r := c.lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return d, fmt.Sprintf("too many asynchronous calls from your address (%d at once, then one every %s)",
			q.cfg.BurstPerClient, q.cfg.EveryPerClient)
	}
	c.pending++
	return 0, ""
}

// done counts a call of client finished (or not stored).
func (q *quotas) done(client string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := q.clients.Peek(client); ok && c.pending > 0 {
		c.pending--
	}
}

// checkCallback checks a call's X-Callback-Url before it is stored: an
// absolute http(s) URL without user info, whose host, when an address, the
// guard allows (names are checked on the address dialled, at callback
// time).
func checkCallback(raw string, g netguard.Guard) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s is not an absolute http(s) URL", HeaderCallbackURL)
	}
	if u.User != nil {
		return fmt.Errorf("%s must not carry user info", HeaderCallbackURL)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !g.Allowed(a) {
		return fmt.Errorf("%s names an address that is not allowed (loopback, private or reserved network)", HeaderCallbackURL)
	}
	return nil
}

// callbackClient is the client posting callbacks: every connection
// through guard, and no redirect followed (a POST never becomes a GET
// elsewhere; a 3xx answer is a refused callback).
func callbackClient(g netguard.Guard, timeout time.Duration) *http.Client {
	c := g.Client(netguard.ClientConfig{Timeout: timeout})
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}
