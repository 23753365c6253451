package connector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/invokeauth"
)

// maxReplyBytes bounds what the connector reads of a function's answer.
const maxReplyBytes = 4 << 20

// invokeHeaders is how many headers the connector sets on an invocation at
// most, trace context aside.
const invokeHeaders = 20

// Invocation is one order handed to a function over HTTP.
type Invocation struct {
	Subject       string
	Queue         string
	Order         string
	EventID       string // CloudEvents id: unique per order
	CorrelationID string
	Attempt       int
	Deadline      time.Time
	Reply         bool // a requester waits for the answer
	Body          []byte
	Trace         http.Header // traceparent and tracestate, when the order has them
}

// Response is what a function answered, or why it did not.
type Response struct {
	Status   int // 0 when there is no HTTP answer
	Body     []byte
	Header   http.Header
	Err      error // transport error, timeout or unreadable body
	Duration time.Duration
}

// TimedOut says whether the invocation ran out of time.
func (r Response) TimedOut() bool {
	var ne net.Error
	return errors.Is(r.Err, context.DeadlineExceeded) || (errors.As(r.Err, &ne) && ne.Timeout())
}

// Invoker posts orders to functions. It owns the HTTP leg: connector-sdk's
// Invoker has no per-call deadline, returns no outcome to the caller and
// would serialise invocations, so the connector keeps only the SDK's topic
// map and does the call itself.
type Invoker struct {
	client  *http.Client
	metrics *Metrics
	limits  sync.Map // function name → chan struct{}
	urls    sync.Map // target URL → *url.URL
	max     int
	// keys sign each call; nil signs nothing.
	keys *invokeauth.Keys
}

// NewInvoker returns an invoker allowing maxInflight concurrent calls per
// function. A nil transport gets one tuned for many keep-alive connections.
func NewInvoker(maxInflight int, m *Metrics, transport http.RoundTripper) *Invoker {
	if transport != nil {
		return &Invoker{client: &http.Client{Transport: transport}, metrics: m, max: maxInflight}
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   maxInflight + 16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Invoker{client: &http.Client{Transport: tr}, metrics: m, max: maxInflight}
}

// Client is the HTTP client, shared with the gateway source.
func (iv *Invoker) Client() *http.Client { return iv.client }

// parsedURL is a target's URL, parsed once (requests only read it). Targets
// are few and long-lived; a topic map that drops one leaves its entry.
func (iv *Invoker) parsedURL(raw string) (*url.URL, error) {
	if u, ok := iv.urls.Load(raw); ok {
		return u.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("target URL %q: want an http or https URL with a host", raw)
	}
	iv.urls.Store(raw, u)
	return u, nil
}

func (iv *Invoker) slot(fn string) chan struct{} {
	if c, ok := iv.limits.Load(fn); ok {
		return c.(chan struct{})
	}
	c, _ := iv.limits.LoadOrStore(fn, make(chan struct{}, iv.max))
	return c.(chan struct{})
}

// Acquire waits for a free slot of fn until ctx ends, and returns its release.
func (iv *Invoker) Acquire(ctx context.Context, fn string) (func(), error) {
	s := iv.slot(fn)
	select {
	case s <- struct{}{}:
		g := iv.metrics.inflight.WithLabelValues(fn)
		g.Inc()
		return func() { g.Dec(); <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Invoke posts inv to t within ctx (whose deadline bounds the call) and
// reads the answer.
func (iv *Invoker) Invoke(ctx context.Context, t Target, inv *Invocation) Response {
	start := time.Now()
	resp := iv.invoke(ctx, t, inv)
	resp.Duration = time.Since(start)
	iv.metrics.invocations.WithLabelValues(t.Name, strconv.Itoa(resp.Status)).Inc()
	iv.metrics.invokeSeconds.WithLabelValues(t.Name).Observe(resp.Duration.Seconds())
	return resp
}

func (iv *Invoker) invoke(ctx context.Context, t Target, inv *Invocation) Response {
	u, err := iv.parsedURL(t.URL)
	if err != nil {
		return Response{Err: fmt.Errorf("build request for %s: %w", t.Name, err)}
	}
	// What http.NewRequestWithContext makes of a POST with a byte body,
	// the URL parsed once per target.
	req := (&http.Request{
		Method: http.MethodPost, URL: u, Host: u.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Body: io.NopCloser(bytes.NewReader(inv.Body)), ContentLength: int64(len(inv.Body)),
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(inv.Body)), nil },
	}).WithContext(ctx)
	if len(inv.Body) == 0 {
		req.Body, req.GetBody = http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	// Canonical keys assigned directly, their values cut from one array:
	// this runs once per order.
	h := make(http.Header, invokeHeaders+len(inv.Trace))
	req.Header = h
	vals := make([]string, 0, invokeHeaders)
	one := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	one("Content-Type", "application/json")
	one("User-Agent", "caliopen-connector")
	one("X-Connector", "caliopen-connector")
	// CloudEvents binary mode: the body stays the original JSON.
	one(contract.HTTPCloudEventSpec, "1.0")
	one(contract.HTTPCloudEventID, inv.EventID)
	one(contract.HTTPCloudEventType, "caliopen.order."+inv.Order)
	one(contract.HTTPCloudEventSource, "/nats/"+inv.Subject)
	one(contract.HTTPCloudEventSubject, inv.Subject)
	one(contract.HTTPCloudEventTime, time.Now().UTC().Format(time.RFC3339Nano))
	one(contract.HTTPCloudEventNATSSubject, inv.Subject)
	one(contract.HTTPSubject, inv.Subject)
	one(contract.HTTPQueue, inv.Queue)
	one(contract.HTTPReply, strconv.FormatBool(inv.Reply))
	one(contract.HTTPDeliveryAttempt, strconv.Itoa(inv.Attempt))
	one(contract.HTTPCorrelationID, inv.CorrelationID)
	one(contract.HTTPCallID, inv.CorrelationID)
	if !inv.Deadline.IsZero() {
		one(contract.HTTPDeadline, inv.Deadline.UTC().Format(time.RFC3339Nano))
		if d := time.Until(inv.Deadline); d > 0 {
			one(contract.HTTPTimeout, d.Round(time.Millisecond).String())
		}
	}
	for k, v := range inv.Trace {
		h[k] = v
	}
	if iv.keys != nil {
		// A gateway's name may be qualified (smtp-deliver.openfaas-fn); the
		// function knows itself by its bare name.
		fn, _, _ := strings.Cut(t.Name, ".")
		one(invokeauth.Header, iv.keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost, Function: fn,
			Subject: inv.Subject, CorrelationID: inv.CorrelationID, Body: inv.Body}))
	}
	// The transport directly: no redirects to follow, and no copy of the
	// headers kept for them.
	res, err := iv.client.Transport.RoundTrip(req)
	if err != nil {
		return Response{Err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxReplyBytes+1))
	if err == nil && len(body) > maxReplyBytes {
		err = fmt.Errorf("answer of %s exceeds %d bytes", t.Name, maxReplyBytes)
	}
	return Response{Status: res.StatusCode, Body: body, Header: res.Header, Err: err}
}

// Problem is the error code and text a function's failure answer carries in
// its Nats-Service-Error headers, or a generic pair naming the function and
// the status.
func (r Response) Problem(function string) (code, text string) {
	code, text = r.Header.Get(HeaderServiceErrorCode), r.Header.Get(HeaderServiceError)
	if code == "" {
		code = contract.CodeFailed
	}
	if text == "" {
		text = fmt.Sprintf("function %s answered %d", function, r.Status)
	}
	return code, text
}
