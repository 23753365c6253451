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
	"github.com/caliopen/functions/internal/netguard"
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
	// headerRemote is the caller's address (and headerForwarded its
	// X-Forwarded-For), so that the function sees the call's client, as
	// on /function: the API throttles logins per client address.
	headerRemote    = "Caliopen-Remote-Addr"
	headerForwarded = "Caliopen-Forwarded-For"
	// headerClient is the key of the caller's quota (clientOf).
	headerClient = "Caliopen-Client"
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
	// Guard checks every callback's destination (package netguard:
	// no loopback, private or reserved address unless the operator's
	// allow list names it).
	Guard netguard.Guard
	// Client posts the callbacks; nil is one on Guard that follows no
	// redirect.
	Client *http.Client

	// MaxBodyBytes bounds one call's body (413 beyond).
	MaxBodyBytes int64
	// PendingPerClient bounds the calls of one client (an address, an
	// IPv6 /64) stored and not finished; BurstPerClient calls are taken at
	// once, then one every EveryPerClient (429 beyond, with Retry-After).
	PendingPerClient, BurstPerClient int
	EveryPerClient                   time.Duration
	// StreamMaxBytes and StreamMaxAge bound the stream; a call that would
	// pass its size is refused (503), none stored is dropped. A finished
	// call is removed from the stream (its dead letter stays, until
	// StreamMaxAge).
	StreamMaxBytes int64
	StreamMaxAge   time.Duration
}

// DefaultAsyncConfig is the configuration of the local system.
func DefaultAsyncConfig() AsyncConfig {
	return AsyncConfig{Stream: "CALIOPEN_ASYNC", Prefix: "caliopen.async", MaxAttempts: 5,
		BackoffBase: time.Second, BackoffMax: time.Minute, Timeout: time.Minute, CallbackTimeout: 10 * time.Second,
		MaxInflight: 20, MaxBodyBytes: DefaultAsyncMaxBody, PendingPerClient: DefaultAsyncPending,
		BurstPerClient: DefaultAsyncBurst, EveryPerClient: DefaultAsyncEvery, StreamMaxBytes: DefaultAsyncStreamBytes,
		StreamMaxAge: DefaultAsyncStreamMaxAge}
}

// async is the running asynchronous path.
type async struct {
	cfg      AsyncConfig
	js       jetstream.JetStream
	stream   jetstream.Stream
	quotas   *quotas
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
//
// Limits, each refused with a clear answer: a call's body (413), a
// client's calls not finished and its rate (429 with Retry-After), the
// stream's size (503; no stored call is ever dropped for a new one) and
// age. The gateway makes every call id (a caller's X-Call-Id is not
// used). A callback goes through the egress guard (cfg.Guard): a URL with
// user info, or naming a refused address, is refused at once (400); a name
// is checked on the address dialled; no redirect is followed. The function
// sees the call's client address (RemoteAddr, X-Forwarded-For), as on
// /function, so that the API throttles asynchronous logins per client.
func (g *Gateway) ServeAsync(ctx context.Context, js jetstream.JetStream, cfg AsyncConfig) (stop func(), err error) {
	cfg = cfg.withDefaults()
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "asynchronous function calls (/async-function) and their dead letters",
		Subjects:    []string{cfg.Prefix + ".call.>", cfg.Prefix + ".dlq.>"},
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.StreamMaxAge,
		MaxBytes:    cfg.StreamMaxBytes,
		Discard:     jetstream.DiscardNew, // a full stream refuses new calls, never drops stored ones
		MaxMsgSize:  int32(min(cfg.MaxBodyBytes+64<<10, 1<<30)),
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
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
	a := &async{cfg: cfg, js: js, stream: stream, quotas: newQuotas(cfg), work: work}
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

// withDefaults returns cfg with its zero (or negative) fields set to
// DefaultAsyncConfig's.
func (cfg AsyncConfig) withDefaults() AsyncConfig {
	def := DefaultAsyncConfig()
	if cfg.Stream == "" {
		cfg.Stream = def.Stream
	}
	if cfg.Prefix == "" {
		cfg.Prefix = def.Prefix
	}
	orDefault(&cfg.MaxAttempts, def.MaxAttempts)
	orDefault(&cfg.BackoffBase, def.BackoffBase)
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = max(def.BackoffMax, cfg.BackoffBase)
	}
	orDefault(&cfg.Timeout, def.Timeout)
	orDefault(&cfg.CallbackTimeout, def.CallbackTimeout)
	orDefault(&cfg.MaxInflight, def.MaxInflight)
	orDefault(&cfg.PendingPerClient, def.PendingPerClient)
	orDefault(&cfg.BurstPerClient, def.BurstPerClient)
	orDefault(&cfg.EveryPerClient, def.EveryPerClient)
	orDefault(&cfg.MaxBodyBytes, def.MaxBodyBytes)
	orDefault(&cfg.StreamMaxBytes, def.StreamMaxBytes)
	orDefault(&cfg.StreamMaxAge, def.StreamMaxAge)
	if cfg.Client == nil {
		cfg.Client = callbackClient(cfg.Guard, cfg.CallbackTimeout)
	}
	return cfg
}

// orDefault sets *v to def when it is not above zero.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
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
	if callback := r.Header.Get(HeaderCallbackURL); callback != "" {
		if err := checkCallback(callback, a.cfg.Guard); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		http.Error(w, fmt.Sprintf("request body too large for an asynchronous call (at most %d bytes)", a.cfg.MaxBodyBytes),
			http.StatusRequestEntityTooLarge)
		return
	}
	client := clientOf(r)
	if retry, why := a.quotas.take(client); why != "" {
		g.logger.Warn("async call refused", "function", s.fn.Name, "client", client, "outcome", "quota")
		w.Header().Set("Retry-After", strconv.Itoa(int(max(retry.Round(time.Second), time.Second)/time.Second)))
		http.Error(w, why, http.StatusTooManyRequests)
		return
	}
	stored := false
	defer func() {
		if !stored {
			a.quotas.done(client)
		}
	}()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		http.Error(w, fmt.Sprintf("request body too large for an asynchronous call (at most %d bytes)", a.cfg.MaxBodyBytes),
			http.StatusRequestEntityTooLarge)
		return
	}
	// The gateway makes every call id: a caller's X-Call-Id is not used,
	// so no caller can pick another's id and have that call dropped as a
	// duplicate.
	callID := uuid.NewString()
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
	m.Header.Set(headerRemote, r.RemoteAddr)
	if v := strings.Join(r.Header.Values("X-Forwarded-For"), ", "); v != "" {
		m.Header.Set(headerForwarded, v)
	}
	m.Header.Set(headerClient, client)
	m.Header.Set(nats.MsgIdHdr, callID)
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := a.js.PublishMsg(ctx, m); err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && strings.Contains(apiErr.Description, "maximum") {
			g.logger.Error("async call refused: the stream is full", "function", s.fn.Name, "outcome", "stream_full",
				"err", err.Error())
			w.Header().Set("Retry-After", "60")
			http.Error(w, "the asynchronous call queue is full, try again later", http.StatusServiceUnavailable)
			return
		}
		g.logger.Error("async call not stored", "function", s.fn.Name, "call_id", callID, "err", err)
		http.Error(w, "the call could not be queued", http.StatusServiceUnavailable)
		return
	}
	stored = true
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
		a.finished(msg, log)
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
	r.RemoteAddr = h.Get(headerRemote)
	if v := h.Get(headerForwarded); v != "" {
		r.Header.Set("X-Forwarded-For", v)
	}
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
	a.finished(msg, log)
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

// finished frees the call's place in its client's quota and removes it
// from the stream (its dead letter, if any, stays).
func (a *async) finished(msg jetstream.Msg, log interface{ Warn(string, ...any) }) {
	a.quotas.done(msg.Headers().Get(headerClient))
	md, err := msg.Metadata()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(a.work, 5*time.Second)
	defer cancel()
	if err := a.stream.DeleteMsg(ctx, md.Sequence.Stream); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		log.Warn("finished call not removed from the stream; it goes at the stream's age limit", "err", err)
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
