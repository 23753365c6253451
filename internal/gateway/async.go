package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/faults"
)

// Headers of OpenFaaS asynchronous invocations, as its gateway and
// queue-worker use them.
const (
	HeaderCallbackURL    = "X-Callback-Url"
	HeaderFunctionStatus = "X-Function-Status"
	HeaderFunctionName   = "X-Function-Name"
)

// Headers a dead-lettered call carries, as the connector's dead letters do.
const (
	headerError     = contract.HeaderError
	headerErrorCode = contract.HeaderErrorCode
	headerStatus    = contract.HeaderStatus
	headerAttempts  = contract.HeaderAttempts
	headerFunction  = contract.HeaderFunction
	headerPath      = "Caliopen-Path"
	headerQuery     = "Caliopen-Query"
)

// AsyncConfig configures asynchronous invocations. Zero fields take the
// defaults of DefaultAsyncConfig.
type AsyncConfig struct {
	// Stream is the JetStream stream holding the calls and their dead
	// letters; Prefix its subjects: calls on <Prefix>.call.<function>,
	// dead letters on <Prefix>.dlq.<function>.
	Stream, Prefix string
	// MaxAttempts bounds the invocations of one call; BackoffBase and
	// BackoffMax space them, as the connector spaces a publish/subscribe
	// order's (base*2^(attempt-1), capped, ±20 % jitter).
	MaxAttempts             int
	BackoffBase, BackoffMax time.Duration
	// Timeout bounds one invocation and CallbackTimeout one callback.
	Timeout, CallbackTimeout time.Duration
	// MaxInflight bounds the calls invoked at once.
	MaxInflight int
	// Client posts the callbacks.
	Client *http.Client
}

// DefaultAsyncConfig is the configuration of the local system.
func DefaultAsyncConfig() AsyncConfig {
	return AsyncConfig{Stream: "CALIOPEN_ASYNC", Prefix: "caliopen.async", MaxAttempts: 5,
		BackoffBase: time.Second, BackoffMax: time.Minute, Timeout: time.Minute, CallbackTimeout: 10 * time.Second,
		MaxInflight: 20, Client: &http.Client{}}
}

// async is the running asynchronous path.
type async struct {
	cfg      AsyncConfig
	js       jetstream.JetStream
	work     context.Context
	consumer jetstream.ConsumeContext
	inflight sync.WaitGroup
}

// ServeAsync enables POST /async-function/<name>: each call is stored in
// JetStream and answered 202 with its X-Call-Id; a durable consumer invokes
// the function at least once, retries a temporary failure with backoff up
// to MaxAttempts, dead-letters a call that still fails (or fails
// permanently) with the error in Caliopen-* headers, and, when the call
// named an X-Callback-Url, posts the function's final answer there with
// X-Call-Id and X-Function-Status, as OpenFaaS's queue-worker does. Before
// ServeAsync the route answers 503. The returned stop ends the consumer and
// waits for the calls in flight.
func (g *Gateway) ServeAsync(ctx context.Context, js jetstream.JetStream, cfg AsyncConfig) (stop func(), err error) {
	def := DefaultAsyncConfig()
	if cfg.Stream == "" {
		cfg.Stream = def.Stream
	}
	if cfg.Prefix == "" {
		cfg.Prefix = def.Prefix
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = def.BackoffBase
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = max(def.BackoffMax, cfg.BackoffBase)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.CallbackTimeout <= 0 {
		cfg.CallbackTimeout = def.CallbackTimeout
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = def.MaxInflight
	}
	if cfg.Client == nil {
		cfg.Client = def.Client
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "asynchronous function calls (/async-function) and their dead letters",
		Subjects:    []string{cfg.Prefix + ".call.>", cfg.Prefix + ".dlq.>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("gateway: declare stream %s: %w", cfg.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       "gateway_async",
		FilterSubject: cfg.Prefix + ".call.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.Timeout + 15*time.Second,
		MaxDeliver:    -1, // attempts are counted here, as the connector counts them
		MaxAckPending: 2 * cfg.MaxInflight,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: declare consumer: %w", err)
	}
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &async{cfg: cfg, js: js, work: work}
	a.consumer, err = cons.Consume(func(msg jetstream.Msg) {
		a.inflight.Add(1)
		go func() {
			defer a.inflight.Done()
			g.handleCall(a, msg)
		}()
	}, jetstream.PullMaxMessages(cfg.MaxInflight))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gateway: consume calls: %w", err)
	}
	g.async.Store(a)
	return func() {
		g.async.Store(nil)
		a.consumer.Stop()
		a.inflight.Wait()
		cancel()
	}, nil
}

// asyncState holds the running asynchronous path, nil before ServeAsync.
type asyncState = atomic.Pointer[async]

// acceptAsync serves POST /async-function/<name>[/<rest>].
func (g *Gateway) acceptAsync(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s, ok := g.lookup(name)
	if !ok {
		http.Error(w, "function not found", http.StatusNotFound)
		return
	}
	a := g.async.Load()
	if a == nil {
		http.Error(w, "asynchronous invocations are not enabled", http.StatusServiceUnavailable)
		return
	}
	callback := r.Header.Get(HeaderCallbackURL)
	if callback != "" {
		if u, err := url.Parse(callback); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			http.Error(w, HeaderCallbackURL+" is not an absolute http(s) URL", http.StatusBadRequest)
			return
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	callID := r.Header.Get(headerCallID)
	if callID == "" || len(callID) > 128 {
		callID = uuid.NewString()
	}
	m := nats.NewMsg(a.cfg.Prefix + ".call." + s.fn.Name)
	m.Data = body
	for _, k := range []string{HeaderCallbackURL, "Content-Type"} {
		if v := r.Header.Get(k); v != "" {
			m.Header.Set(k, v)
		}
	}
	start := time.Now()
	m.Header.Set(headerCallID, callID)
	m.Header.Set(headerStartTime, strconv.FormatInt(start.UnixNano(), 10))
	m.Header.Set(headerPath, r.PathValue("rest"))
	m.Header.Set(headerQuery, r.URL.RawQuery)
	m.Header.Set(nats.MsgIdHdr, callID)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := a.js.PublishMsg(ctx, m); err != nil {
		g.logger.Error("async call not stored", "function", s.fn.Name, "call_id", callID, "err", err)
		http.Error(w, "the call could not be queued", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set(headerCallID, callID)
	w.Header().Set(headerStartTime, strconv.FormatInt(start.UnixNano(), 10))
	w.WriteHeader(http.StatusAccepted)
}

// handleCall invokes one stored call and acks, retries or dead-letters it.
func (g *Gateway) handleCall(a *async, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Term()
		return
	}
	h := msg.Headers()
	name := strings.TrimPrefix(msg.Subject(), a.cfg.Prefix+".call.")
	attempt := int(md.NumDelivered)
	log := g.logger.With("function", name, "call_id", h.Get(headerCallID), "attempt", attempt)
	s, ok := g.lookup(name)
	if !ok {
		g.deadLetterCall(a, msg, name, attempt, http.StatusNotFound, "not_found", "function not found", log)
		return
	}
	if attempt > a.cfg.MaxAttempts {
		g.deadLetterCall(a, msg, name, attempt, 0, "attempts_exhausted",
			fmt.Sprintf("delivered %d times, more than %d attempts", attempt, a.cfg.MaxAttempts), log)
		return
	}
	res := g.invokeCall(a, s, msg)
	class, failed := faults.FromStatus(res.status)
	switch {
	case !failed:
		if err := msg.DoubleAck(a.work); err != nil {
			log.Warn("ack failed; the call will be invoked again", "err", err)
			return
		}
		log.Info("async call done", "status", res.status)
		g.callback(a, msg, name, res, log)
	case class == faults.Permanent || attempt >= a.cfg.MaxAttempts:
		if g.deadLetterCall(a, msg, name, attempt, res.status, "failed", strings.TrimSpace(string(res.body)), log) {
			g.callback(a, msg, name, res, log)
		}
	default:
		delay := backoff(a.cfg.BackoffBase, a.cfg.BackoffMax, attempt)
		if err := msg.NakWithDelay(delay); err != nil {
			log.Warn("nak failed; the call is invoked again after the ack wait", "err", err)
		}
		log.Warn("async call will be retried", "status", res.status, "retry_in", delay.String())
	}
}

// result is a function's answer to one call.
type result struct {
	status   int
	header   http.Header
	body     []byte
	duration time.Duration
}

// invokeCall runs the function's handler on the stored call, as
// /function/<name> would.
func (g *Gateway) invokeCall(a *async, s *served, msg jetstream.Msg) result {
	ctx, cancel := context.WithTimeout(a.work, a.cfg.Timeout)
	defer cancel()
	h := msg.Headers()
	target := &url.URL{Path: "/function/" + s.fn.Name + "/" + h.Get(headerPath), RawQuery: h.Get(headerQuery)}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), bytes.NewReader(msg.Data()))
	if err != nil {
		return result{status: http.StatusBadRequest, body: []byte(err.Error())}
	}
	r.SetPathValue("name", s.fn.Name)
	r.SetPathValue("rest", h.Get(headerPath))
	if v := h.Get("Content-Type"); v != "" {
		r.Header.Set("Content-Type", v)
	}
	r.Header.Set(headerCallID, h.Get(headerCallID))
	rec := &recorder{header: http.Header{}, limit: g.cfg.MaxBodyBytes}
	start := time.Now()
	g.invoke(rec, r)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if ctx.Err() != nil && rec.status < 300 {
		rec.status = http.StatusGatewayTimeout
	}
	return result{status: rec.status, header: rec.header, body: rec.body.Bytes(), duration: time.Since(start)}
}

// deadLetterCall stores the call, with the error in Caliopen-* headers, on
// <Prefix>.dlq.<function> and terminates it; when that store fails the call
// is retried instead, so nothing is lost. It reports whether it stored.
func (g *Gateway) deadLetterCall(a *async, msg jetstream.Msg, name string, attempt, status int, code, reason string, log interface {
	Warn(string, ...any)
	Error(string, ...any)
}) bool {
	dl := nats.NewMsg(a.cfg.Prefix + ".dlq." + name)
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		if !strings.HasPrefix(k, "Nats-") {
			dl.Header[k] = v
		}
	}
	dl.Header.Set(nats.MsgIdHdr, "dlq-"+msg.Headers().Get(headerCallID))
	dl.Header.Set(headerError, reason)
	dl.Header.Set(headerErrorCode, code)
	dl.Header.Set(headerStatus, strconv.Itoa(status))
	dl.Header.Set(headerAttempts, strconv.Itoa(attempt))
	dl.Header.Set(headerFunction, name)
	ctx, cancel := context.WithTimeout(a.work, 5*time.Second)
	defer cancel()
	if _, err := a.js.PublishMsg(ctx, dl); err != nil {
		log.Error("dead-letter store failed; the call will be invoked again", "err", err)
		_ = msg.NakWithDelay(backoff(a.cfg.BackoffBase, a.cfg.BackoffMax, attempt))
		return false
	}
	if err := msg.Term(); err != nil {
		log.Warn("term failed after dead-lettering", "err", err)
	}
	log.Warn("async call dead-lettered", "status", status, "code", code, "dlq", dl.Subject)
	return true
}

// callback posts the function's final answer to the call's X-Callback-Url.
// A callback that fails is logged, not retried: the call is done.
func (g *Gateway) callback(a *async, msg jetstream.Msg, name string, res result, log interface {
	Warn(string, ...any)
}) {
	h := msg.Headers()
	u := h.Get(HeaderCallbackURL)
	if u == "" {
		return
	}
	ctx, cancel := context.WithTimeout(a.work, a.cfg.CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(res.body))
	if err != nil {
		log.Warn("callback not sent", "err", err)
		return
	}
	if v := res.header.Get("Content-Type"); v != "" {
		req.Header.Set("Content-Type", v)
	}
	req.Header.Set(headerCallID, h.Get(headerCallID))
	req.Header.Set(HeaderFunctionStatus, strconv.Itoa(res.status))
	req.Header.Set(HeaderFunctionName, name)
	req.Header.Set(headerDuration, strconv.FormatFloat(res.duration.Seconds(), 'f', 6, 64))
	if v := h.Get(headerStartTime); v != "" {
		req.Header.Set(headerStartTime, v)
	}
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		log.Warn("callback failed", "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		log.Warn("callback refused", "status", resp.StatusCode)
	}
}

// backoff is base*2^(attempt-1), capped at maxDelay, with ±20 % jitter.
func backoff(base, maxDelay time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// recorder keeps a function's answer, its body bounded by limit.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int64
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if int64(r.body.Len()+len(p)) > r.limit {
		return 0, errors.New("gateway: answer larger than the body limit")
	}
	return r.body.Write(p)
}
