// Package outbox relays the store's outbox to JetStream. A change and the
// orders that announce it are committed in one transaction (store.Order);
// the writer then publishes its orders itself (Send) and, should it crash
// or JetStream be away, a Relay publishes whatever is left once the
// writer's lease has run out. Every order is published under its own id as
// Nats-Msg-Id, so the stream stores an order published twice (a crash
// after the publish and before the row's removal) once.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caliopen/functions/internal/store"
)

// Store is the store's outbox.
type Store interface {
	ClaimOrders(ctx context.Context, writtenBefore time.Time, lease time.Duration, limit int) ([]store.Order, error)
	OrdersSent(ctx context.Context, ids ...string) error
}

// Publisher publishes an order and returns once the stream has acknowledged
// it (internal/emit's Emitter).
type Publisher interface {
	PublishOrder(ctx context.Context, o store.Order) error
}

// Config tunes a relay. Zero fields take the defaults.
type Config struct {
	// Interval is the pause between two looks at the outbox when the
	// last one found nothing to do (default 1s).
	Interval time.Duration
	// Lease is how long a relay holds the orders it claims (default 30s):
	// a relay that dies holding some leaves them to another after it. It
	// must stay below the stream's duplicate window (2 min).
	Lease time.Duration
	// Grace is how long the writer of an order has to publish it itself
	// before the relay takes it (default 10s; negative: at once).
	Grace time.Duration
	// Batch bounds the orders claimed at once (default 64).
	Batch int
	// PublishTimeout bounds the publish of one order (default 5s).
	PublishTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Grace < 0 {
		c.Grace = 0
	} else if c.Grace == 0 {
		c.Grace = 10 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 5 * time.Second
	}
	return c
}

// Relay publishes pending orders of the outbox. Several relays may run on
// one store: each claims different rows.
type Relay struct {
	cfg Config
	st  Store
	pub Publisher
	log *slog.Logger
}

// New returns a relay; log receives its warnings.
func New(cfg Config, st Store, pub Publisher, log *slog.Logger) *Relay {
	return &Relay{cfg: cfg.withDefaults(), st: st, pub: pub, log: log}
}

// Run relays until ctx ends, then returns nil.
func (r *Relay) Run(ctx context.Context) error {
	failing := false
	for {
		n, err := r.Flush(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			r.log.Warn("outbox relay: orders not published; retrying", "err", err.Error())
			failing = true
		case err == nil && failing:
			r.log.Info("outbox relay: publishing again", "sent", n)
			failing = false
		}
		if err == nil && n > 0 {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.Interval):
		}
	}
}

// Start runs the relay on its own goroutine until stop is called or ctx
// ends; stop waits for it to return.
func (r *Relay) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Flush claims one batch of pending orders, publishes them in commit order
// and removes those acknowledged. It stops at the first order that cannot
// be published: the rest stay leased and are taken again after the lease.
// It returns how many orders were sent.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	orders, err := r.st.ClaimOrders(ctx, time.Now().Add(-r.cfg.Grace), r.cfg.Lease, r.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim orders: %w", err)
	}
	return Send(ctx, r.st, r.pub, r.cfg.PublishTimeout, orders)
}

// Send publishes orders, in order, and removes from the store those the
// stream acknowledged. It stops at the first failure, leaving that order
// and the following ones for a relay, and returns how many were sent.
func Send(ctx context.Context, st Store, pub Publisher, timeout time.Duration, orders []store.Order) (int, error) {
	sent := make([]string, 0, len(orders))
	var perr error
	for _, o := range orders {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := pub.PublishOrder(pctx, o)
		cancel()
		if err != nil {
			perr = fmt.Errorf("publish order %s on %s: %w", o.ID, o.Subject, err)
			break
		}
		sent = append(sent, o.ID)
	}
	if len(sent) == 0 {
		return 0, perr
	}
	// Removing the rows must not depend on the caller's context: once
	// published, an order left in the outbox is only published again.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := st.OrdersSent(dctx, sent...); err != nil {
		return len(sent), errors.Join(perr, fmt.Errorf("remove %d sent orders: %w", len(sent), err))
	}
	return len(sent), perr
}
