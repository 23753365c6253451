package accounts

import (
	"math"
	"net/netip"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Login throttling defaults (see LoginThrottle).
const (
	// DefaultAddressBurst failed logins from one client address are free;
	// then one more every DefaultAddressEvery.
	DefaultAddressBurst = 10
	DefaultAddressEvery = 30 * time.Second
	// DefaultAccountBurst failed logins on one account are free; then one
	// more every DefaultAccountEvery, from addresses that failed before.
	DefaultAccountBurst = 20
	DefaultAccountEvery = 10 * time.Second
	// DefaultThrottleKeys bounds the addresses and the accounts remembered,
	// each (least recently used forgotten first).
	DefaultThrottleKeys = 1 << 16
)

// ThrottleConfig configures a LoginThrottle. Zero fields take the defaults.
type ThrottleConfig struct {
	AddressBurst int
	AddressEvery time.Duration
	AccountBurst int
	AccountEvery time.Duration
	Keys         int
}

// LoginThrottle slows password guessing before any bcrypt work is spent,
// per client address and per account, without letting an attacker lock a
// user out:
//
//   - Per address: every attempt takes a token of the address's bucket
//     (AddressBurst tokens, one back every AddressEvery); a successful login
//     gives it back. An address with no token left is refused, whatever the
//     account.
//   - Per account: a failed login takes a token of the account's bucket
//     (AccountBurst, one back every AccountEvery), whether the account exists
//     or not. When it is empty, attempts on the account are refused from
//     addresses that have failed before (whose bucket is not full), and
//     still evaluated from a clean address. The user, from their own
//     address, can still log in while someone guesses from elsewhere; an
//     attacker spread over many addresses gets one guess per fresh address
//     once the account's bucket is empty.
//
// Memory is bounded: Keys addresses and Keys accounts at most, the least
// recently used forgotten first (a forgotten key starts afresh: an attacker
// who floods the table with new keys regains a burst, no more). IPv6
// addresses are grouped by /64, the block one subscriber usually holds.
// The state is per process: N replicas of the API allow N times the rates.
type LoginThrottle struct {
	cfg      ThrottleConfig
	addrs    *lru.Cache[netip.Addr, *rate.Limiter]
	accounts *lru.Cache[string, *rate.Limiter]
	now      func() time.Time
}

// NewLoginThrottle returns a throttle; now is the clock (nil: time.Now).
func NewLoginThrottle(cfg ThrottleConfig, now func() time.Time) *LoginThrottle {
	if cfg.AddressBurst <= 0 {
		cfg.AddressBurst = DefaultAddressBurst
	}
	if cfg.AddressEvery <= 0 {
		cfg.AddressEvery = DefaultAddressEvery
	}
	if cfg.AccountBurst <= 0 {
		cfg.AccountBurst = DefaultAccountBurst
	}
	if cfg.AccountEvery <= 0 {
		cfg.AccountEvery = DefaultAccountEvery
	}
	if cfg.Keys <= 0 {
		cfg.Keys = DefaultThrottleKeys
	}
	if now == nil {
		now = time.Now
	}
	addrs, _ := lru.New[netip.Addr, *rate.Limiter](cfg.Keys) // size > 0: no error
	accs, _ := lru.New[string, *rate.Limiter](cfg.Keys)
	return &LoginThrottle{cfg: cfg, addrs: addrs, accounts: accs, now: now}
}

// Attempt is one login attempt let through; report its outcome once.
type Attempt struct {
	t       *LoginThrottle
	at      time.Time // of the address's reservation
	addr    *rate.Reservation
	account *rate.Limiter
}

// Begin asks whether a login on account (a normalized user name) from addr
// may be evaluated. It returns the attempt, or how long to wait before
// retrying.
func (t *LoginThrottle) Begin(account string, addr netip.Addr) (*Attempt, time.Duration) {
	now := t.now()
	al := limiter(t.addrs, groupAddr(addr), t.cfg.AddressEvery, t.cfg.AddressBurst)
	clean := al.TokensAt(now) >= float64(t.cfg.AddressBurst)
	res := al.ReserveN(now, 1)
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return nil, wait
	}
	if len(account) > MaxNameLen {
		account = account[:MaxNameLen] // no such user; and the table's memory stays bounded
	}
	acc := limiter(t.accounts, account, t.cfg.AccountEvery, t.cfg.AccountBurst)
	if tokens := acc.TokensAt(now); !clean && tokens < 1 {
		res.CancelAt(now)
		return nil, time.Duration(math.Ceil((1 - tokens) * float64(t.cfg.AccountEvery)))
	}
	return &Attempt{t: t, at: now, addr: res, account: acc}, 0
}

// Succeeded gives the address its token back (a reservation is cancelled
// as of its own time: rate restores nothing for one in the past).
func (a *Attempt) Succeeded() { a.addr.CancelAt(a.at) }

// Failed counts a failure against the account (the address's token stays
// spent).
func (a *Attempt) Failed() { a.account.AllowN(a.t.now(), 1) }

// limiter returns key's limiter in c, adding a full one.
func limiter[K comparable](c *lru.Cache[K, *rate.Limiter], key K, every time.Duration, burst int) *rate.Limiter {
	if l, ok := c.Get(key); ok {
		return l
	}
	l := rate.NewLimiter(rate.Every(every), burst)
	if prev, ok, _ := c.PeekOrAdd(key, l); ok {
		return prev
	}
	return l
}

// groupAddr is the throttling key of an address: itself for IPv4 (and
// IPv4-mapped IPv6), its /64 for IPv6.
func groupAddr(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
