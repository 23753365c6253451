package connector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/contract"
)

// Pull requests of the event consumers.
const (
	// pullWait is how long one pull request waits for events.
	pullWait = 5 * time.Second
	// pullHeartbeat is the idle heartbeat of a waiting pull request: a
	// request the server has dropped ends after two missed beats.
	pullHeartbeat = time.Second
	// pullRetry is the pause after a pull request that failed.
	pullRetry = time.Second
)

// puller consumes one durable consumer with its own fetch loop: one pull
// request at a time (Fetch), asking for as many events as the subject has
// free slots, each request ending when it is filled or after pullWait.
//
// It replaces jetstream's Consume, whose running count of requested
// messages can leave it waiting with work pending: when its count falls
// below the threshold while its previous pull request is still being sent,
// it skips the new request, and checks again only when the next message
// arrives; if none is outstanding, nothing arrives until its heartbeat
// timer fires (2 × 15 s). nats-server 2.9 delivers a pull request's events
// in one burst as acks free MaxAckPending room, which makes that race
// likely under a burst of orders (docs/benchmarks.md, "Publish/subscribe").
// A request per batch keeps no count to go wrong.
type puller struct {
	c     *Connector
	s     *contract.Subject
	cons  jetstream.Consumer
	slots chan struct{} // one token per event in flight
	// fetch sends one pull request for n events, ended by ctx.
	fetch func(ctx context.Context, n int) (jetstream.MessageBatch, error)

	ctx    context.Context // ends on Drain
	stop   context.CancelFunc
	closed chan struct{}

	mu     sync.Mutex
	cancel context.CancelFunc // ends the pull request under way
	// last is when the loop last received an event or started over.
	last atomic.Int64
	// busy counts the events being handled.
	busy atomic.Int64
}

func newPuller(c *Connector, s *contract.Subject, cons jetstream.Consumer) *puller {
	ctx, stop := context.WithCancel(context.Background())
	p := &puller{c: c, s: s, cons: cons, slots: make(chan struct{}, c.cfg.MaxInflight),
		ctx: ctx, stop: stop, closed: make(chan struct{})}
	p.fetch = func(ctx context.Context, n int) (jetstream.MessageBatch, error) {
		return cons.Fetch(n, jetstream.FetchHeartbeat(pullHeartbeat), jetstream.FetchContext(ctx))
	}
	p.last.Store(time.Now().UnixNano())
	return p
}

// Drain stops asking for events; events received finish as usual.
func (p *puller) Drain() { p.stop() }

// Closed is closed once the loop has stopped.
func (p *puller) Closed() <-chan struct{} { return p.closed }

// run is the fetch loop. A failing pull is logged once per streak of
// failures, then retried every pullRetry.
func (p *puller) run() {
	defer close(p.closed)
	failing := false
	for {
		n, ok := p.acquire()
		if !ok {
			return
		}
		got, err := p.pull(n)
		p.release(n - got)
		switch {
		case p.ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				p.c.log.Warn("pull request failed; asking again every "+pullRetry.String(), "subject", p.s.Name, "err", err)
				failing = true
			}
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(pullRetry):
			}
		case failing:
			p.c.log.Info("pull requests answered again", "subject", p.s.Name)
			failing = false
		}
	}
}

// acquire waits for one free slot, then takes every other free one.
func (p *puller) acquire() (int, bool) {
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		return 0, false
	}
	n := 1
	for n < cap(p.slots) {
		select {
		case p.slots <- struct{}{}:
			n++
		default:
			return n, true
		}
	}
	return n, true
}

func (p *puller) release(n int) {
	for range n {
		<-p.slots
	}
}

// pull sends one pull request for n events and dispatches what arrives;
// it returns how many did. A request that expires is no error.
func (p *puller) pull(n int) (int, error) {
	// The context ends the request: the server's expiry is set just
	// before its deadline, and Drain or restart cancel it.
	ctx, cancel := context.WithTimeout(p.ctx, pullWait)
	defer cancel()
	p.mu.Lock()
	p.cancel = cancel
	p.mu.Unlock()
	batch, err := p.fetch(ctx, n)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil // drained or restarted
		}
		return 0, err
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		p.last.Store(time.Now().UnixNano())
		p.c.inflight.Add(1)
		p.busy.Add(1)
		// On a kept goroutine: an invocation grows a fresh one's stack
		// several times over.
		p.c.pool.Go(func() {
			defer p.c.inflight.Done()
			defer p.release(1)
			defer p.busy.Add(-1)
			p.c.handleEvent(p.s, msg)
		})
	}
	err = batch.Error()
	if err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return got, nil
	}
	return got, err
}

// restart ends the pull request under way; the loop sends a new one.
func (p *puller) restart() {
	p.last.Store(time.Now().UnixNano())
	p.mu.Lock()
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
}

// idle reports how long the loop has received nothing, and whether it can
// take an event (so it is asking for events rather than waiting for its
// own invocations).
func (p *puller) idle() (time.Duration, bool) {
	return time.Since(time.Unix(0, p.last.Load())), p.busy.Load() < int64(cap(p.slots))
}

// watch is the stall watchdog: every StallAfter/2 it looks for a consumer
// with free slots that has received nothing for StallAfter while JetStream
// holds events for it (consumer info NumPending > 0); it logs it, counts
// it in caliopen_connector_consumer_stalls_total and sets
// caliopen_connector_consumer_stalled, and starts the consumer's pull over.
func (c *Connector) watch(ctx context.Context, pullers []*puller) {
	t := time.NewTicker(c.cfg.StallAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !c.ready.Load() {
			continue // draining: the consumers stopped asking on purpose
		}
		for _, p := range pullers {
			idle, free := p.idle()
			if !free || idle < c.cfg.StallAfter {
				c.metrics.stalled.WithLabelValues(p.s.Name).Set(0)
				continue
			}
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			info, err := p.cons.Info(ictx)
			cancel()
			if err != nil || info.NumPending == 0 {
				c.metrics.stalled.WithLabelValues(p.s.Name).Set(0)
				continue
			}
			c.metrics.stalled.WithLabelValues(p.s.Name).Set(1)
			c.metrics.stalls.WithLabelValues(p.s.Name).Inc()
			c.log.Warn("consumer stalled: events pending but none received; starting its pull over",
				"subject", p.s.Name, "consumer", info.Name, "pending", info.NumPending,
				"ack_pending", info.NumAckPending, "waiting", info.NumWaiting, "idle", idle.Round(time.Millisecond).String())
			p.restart()
		}
	}
}
