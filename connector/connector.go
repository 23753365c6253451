// Package connector maps Caliopen's NATS subjects onto function invocations
// over HTTP.
//
// Subjects, queue groups and modes come from the contract. The functions for
// a subject come from a topic map (the `topic` annotation of the functions an
// OpenFaaS-compatible gateway lists, or a static file for Knative).
//
// Requests (a core NATS message with a reply inbox) are validated, invoked
// synchronously and answered with the function's body within the requester's
// deadline. Every request gets a reply: bad JSON, an unknown order, a missing
// field, a missing function, a failure or a timeout each produce an error
// reply in the contract's shape, with the headers Nats-Service-Error and
// Nats-Service-Error-Code.
//
// Events get at-least-once delivery through JetStream. A stream captures the
// pure publish/subscribe subjects, so an order published while no connector
// runs waits in it. Durable pull consumers named after the queue groups feed
// the functions: 2xx acks; 429, 5xx, timeouts and a missing function are
// redelivered with exponential backoff; a permanent 4xx, an invalid payload,
// or the last allowed attempt moves the original payload with the error in
// headers to {DLQ_PREFIX}.{subject} and terminates the message. A JetStream
// message's reply subject is its ack subject and is never answered.
//
// A stream that captured a request/reply subject would answer every request
// with a publish ack, so those subjects stay on core NATS queue
// subscriptions; an order published on them without a reply inbox (twitter_dm
// sync, a fire-and-forget deliver) is handed off into the stream under
// {HANDOFF_PREFIX}.{subject} and then treated as an event.
package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/gopool"
	"github.com/caliopen/functions/internal/tracing"
)

// Header names the connector reads or writes on NATS messages (the
// contract's).
const (
	HeaderCorrelationID    = contract.HeaderCorrelationID
	HeaderTimeout          = contract.HeaderTimeout
	HeaderServiceError     = contract.HeaderServiceError
	HeaderServiceErrorCode = contract.HeaderServiceErrorCode
	HeaderError            = contract.HeaderError
	HeaderErrorCode        = contract.HeaderErrorCode
	HeaderStatus           = contract.HeaderStatus
	HeaderAttempts         = contract.HeaderAttempts
	HeaderFunction         = contract.HeaderFunction
	HeaderSubject          = contract.HeaderSubject
	HeaderStreamSeq        = contract.HeaderStreamSeq
)

// Deps are the connector's collaborators.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Contract *contract.Contract
	// Source overrides the topic map source chosen by the config.
	Source Source
	// Conn is an established connection to use instead of dialling
	// cfg.NATS; the connector does not close it.
	Conn *nats.Conn
	// Transport carries the HTTP leg; nil uses a pooled TCP transport. The
	// local system passes an InProcess transport for its own gateway.
	Transport http.RoundTripper
	// Tracing records a span per order, continuing the trace the order
	// carries; nil records none (the trace context still passes through).
	Tracing trace.TracerProvider
}

// Connector is one running connector instance.
type Connector struct {
	cfg      Config
	log      *slog.Logger
	contract *contract.Contract
	metrics  *Metrics
	router   *Router
	invoker  *Invoker

	nc      *nats.Conn
	ownConn bool
	js      jetstream.JetStream

	subs      []*nats.Subscription
	consumers []*puller

	// work outlives the Run context so in-flight orders can finish while
	// draining; it is cancelled when the drain times out.
	work       context.Context
	cancelWork context.CancelFunc
	inflight   sync.WaitGroup
	pool       gopool.Pool // runs requests on kept goroutines
	pending    atomic.Int64
	ready      atomic.Bool
	tracer     trace.Tracer // nil when tracing is off
}

// New checks the configuration and builds a connector; Start connects it.
func New(cfg Config, deps Deps) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil || deps.Registry == nil || deps.Contract == nil {
		return nil, errors.New("connector: Logger, Registry and Contract are required")
	}
	m := NewMetrics(deps.Registry)
	inv := NewInvoker(cfg.MaxInflight, m, deps.Transport)
	inv.keys = cfg.InvokeKeys
	src := deps.Source
	if src == nil {
		switch cfg.Mode {
		case ModeStatic:
			src = StaticSource{Path: cfg.TopicMapFile}
		default:
			listClient := *inv.Client()
			listClient.Timeout = 10 * time.Second
			g, err := NewGatewaySource(cfg.GatewayURL, cfg.GatewayBasicAuth, cfg.SecretMountPath, &listClient)
			if err != nil {
				return nil, err
			}
			src = g
		}
	}
	work, cancel := context.WithCancel(context.Background())
	c := &Connector{
		cfg: cfg, log: deps.Logger, contract: deps.Contract, metrics: m,
		router:  NewRouter(src, cfg.RebuildInterval, deps.Logger, m),
		invoker: inv, nc: deps.Conn, work: work, cancelWork: cancel,
	}
	if deps.Tracing != nil {
		c.tracer = tracing.Tracer(deps.Tracing)
	}
	return c, nil
}

// Ready reports whether the connector is connected, has a topic map and
// consumes every subject.
func (c *Connector) Ready() bool {
	return c.ready.Load() && c.nc != nil && c.nc.IsConnected() && c.router.Synced()
}

// Run starts the connector, refreshes the topic map until ctx ends, then
// drains: it stops taking orders, lets in-flight ones finish within
// DrainTimeout and closes the connection it opened.
func (c *Connector) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		c.Close()
		return err
	}
	c.Serve(ctx)
	return c.Drain()
}

// Serve refreshes the topic map every RebuildInterval until ctx ends. Start
// must have succeeded; Drain afterwards.
func (c *Connector) Serve(ctx context.Context) { c.router.Run(ctx) }

// Start connects, declares the streams and consumers, loads the topic map
// (a failure here is logged, not fatal: the map is retried every
// RebuildInterval) and subscribes.
func (c *Connector) Start(ctx context.Context) error {
	if c.nc == nil {
		nc, err := c.cfg.NATS.Connect(c.log, c.metrics.reconnects.Inc)
		if err != nil {
			return err
		}
		c.nc, c.ownConn = nc, true
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	c.js = js
	if err := c.router.Refresh(ctx); err != nil {
		c.log.Warn("topic map not loaded yet; retrying", "err", err)
	}
	if err := c.declareStreams(ctx); err != nil {
		return err
	}
	// Consumers first: a request whose order is handed off needs them.
	for i := range c.contract.Subjects {
		if err := c.consume(ctx, &c.contract.Subjects[i]); err != nil {
			return err
		}
	}
	for i := range c.contract.Subjects {
		s := &c.contract.Subjects[i]
		if !s.HasRequests() {
			continue
		}
		sub, err := c.nc.QueueSubscribe(s.Name, s.Queue, c.onCore(s))
		if err != nil {
			return fmt.Errorf("subscribe %s (%s): %w", s.Name, s.Queue, err)
		}
		c.subs = append(c.subs, sub)
	}
	if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("flush subscriptions: %w", err)
	}
	go c.watch(c.work, c.consumers)
	c.ready.Store(true)
	c.log.Info("connector started", "subjects", len(c.contract.Subjects), "stream", c.cfg.StreamName)
	return nil
}

// Drain stops taking orders and waits for the in-flight ones.
func (c *Connector) Drain() error {
	c.ready.Store(false)
	for _, s := range c.subs {
		if err := s.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			c.log.Warn("drain subscription", "subject", s.Subject, "err", err)
		}
	}
	for _, cc := range c.consumers {
		cc.Drain()
	}
	done := make(chan struct{})
	go func() {
		for _, cc := range c.consumers {
			<-cc.Closed()
		}
		c.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
		// The acks of the last events are on their way to the server
		// before the connection closes.
		if c.nc != nil {
			_ = c.nc.FlushTimeout(time.Second)
		}
	case <-time.After(c.cfg.DrainTimeout):
		err = fmt.Errorf("drain: in-flight orders still running after %s", c.cfg.DrainTimeout)
		c.log.Warn("drain timed out; abandoning in-flight orders (events will be redelivered)")
	}
	c.Close()
	return err
}

// Close cancels in-flight work and closes the connection if the connector opened it.
func (c *Connector) Close() {
	c.ready.Store(false)
	c.cancelWork()
	c.pool.Close()
	if c.ownConn && c.nc != nil {
		c.nc.Close()
	}
}

// isInbox says whether a reply subject is a requester's inbox rather than
// empty or a JetStream ack subject.
func isInbox(reply string) bool {
	return reply != "" && !strings.HasPrefix(reply, "$JS.")
}

func correlationID(h nats.Header) string {
	if id := h.Get(HeaderCorrelationID); id != "" {
		return id
	}
	return nuid.Next()
}
