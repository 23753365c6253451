package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
)

// natsConnectorSubject is the core NATS subject the nats-connector listens
// on: a subject of no stream, as it expects (it never reads JetStream).
const natsConnectorSubject = "bench.pubsub"

// natsConnectorPortVar is the variable that gives the patched
// nats-connector its NATS port (the original always dials 4222).
const natsConnectorPortVar = "CALIOPEN_NATS_PORT"

// pubsubRun is one publish/subscribe run: events dispatched, how long from
// the first publish to the last dispatch, and the cost an event.
type pubsubRun struct {
	events int
	took   time.Duration
	cost   cost
	lost   int
}

func (r pubsubRun) rate() float64 { return float64(r.events) / r.took.Seconds() }

// fakeGateway serves what the OpenFaaS nats-connector asks of a gateway:
// GET /system/namespaces (none: the functions have no namespace), GET
// /system/functions (contact-action with its topic annotation) and POST
// /function/contact-action, the function itself once set.
type fakeGateway struct {
	fn     atomic.Pointer[http.Handler]
	listed atomic.Int64
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/system/namespaces":
		w.WriteHeader(http.StatusOK) // empty: no namespaces
	case r.Method == http.MethodGet && r.URL.Path == "/system/functions":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode([]map[string]any{{"name": "contact-action", "image": "contact-action:bench", "replicas": 1,
			"availableReplicas": 1, "annotations": map[string]string{"topic": natsConnectorSubject}}})
		g.listed.Add(1)
	case r.URL.Path == "/function/contact-action" && g.fn.Load() != nil:
		(*g.fn.Load()).ServeHTTP(w, r)
	default:
		http.NotFound(w, r)
	}
}

// natsConnectorPath is what the nats-connector's run needs.
type natsConnectorPath struct {
	bin     string
	natsURL string
	gateway *fakeGateway
	// gatewayURL is where the fake gateway listens.
	gatewayURL string
	dir        string
	n          int
	core       fnhttp.Core
	received   *atomic.Int64
	publisher  *nats.Conn
}

// benchNATSConnector runs the OpenFaaS nats-connector (0.3.0, a binary
// the caller gives) as a process of its own,
// in synchronous mode (its chart's default) against the fake gateway, and
// publishes n orders on core NATS to it. It is at most once: an order
// published while it is not subscribed, or dropped as a slow consumer, is
// lost; those still missing 5 s after the last arrival are counted lost.
// Its function is the same adapter and core as the connector's but does
// not check the invocation signature, which the nats-connector cannot
// make. The cost an event is this process's (NATS, publisher, function)
// plus the nats-connector's.
func benchNATSConnector(ctx context.Context, p natsConnectorPath) (pubsubRun, error) {
	u, err := url.Parse(p.natsURL)
	if err != nil {
		return pubsubRun{}, err
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	var fn http.Handler = fnhttp.New(fnhttp.Config{Function: "contact-action"}, contract.Caliopen(), p.core, quiet)
	p.gateway.fn.Store(&fn)
	defer p.gateway.fn.Store(nil)

	logPath := filepath.Join(p.dir, "nats-connector.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return pubsubRun{}, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, p.bin)
	cmd.Env = []string{
		"topics=" + natsConnectorSubject,
		"broker_host=" + u.Hostname(),
		natsConnectorPortVar + "=" + u.Port(),
		"gateway_url=" + p.gatewayURL,
		"asynchronous_invocation=false",
		"upstream_timeout=30s",
		"rebuild_interval=5s",
	}
	// It logs two lines an order (the body among them): to a file, as a
	// pod's log would be collected.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return pubsubRun{}, err
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	if err := waitFor(30*time.Second, func() bool {
		b, _ := os.ReadFile(logPath)
		return bytes.Contains(b, []byte("Subscription: "+natsConnectorSubject+" ready")) && p.gateway.listed.Load() > 0
	}); err != nil {
		b, _ := os.ReadFile(logPath)
		return pubsubRun{}, fmt.Errorf("not subscribed with its topic map: %w; its log:\n%s", err, b)
	}
	// Warmed up as ours was: connections opened, code paths hot, and
	// the topic map surely built.
	if _, err := publishCore(p, p.n/10, 30*time.Second); err != nil {
		return pubsubRun{}, fmt.Errorf("warm-up: %w", err)
	}
	before, childBefore := measureCost(), processCPU(cmd.Process.Pid)
	run, err := publishCore(p, p.n, 5*time.Second)
	if err != nil {
		return pubsubRun{}, err
	}
	spent := measureCost().since(before)
	spent.cpu += processCPU(cmd.Process.Pid) - childBefore
	run.cost = spent.per(run.events)
	return run, nil
}

// publishCore publishes n orders on core NATS and waits until the function
// has received them, or until none has arrived for quiet.
func publishCore(p natsConnectorPath, n int, quiet time.Duration) (pubsubRun, error) {
	base := p.received.Load()
	start := time.Now()
	for range n {
		if err := p.publisher.Publish(natsConnectorSubject, []byte(event)); err != nil {
			return pubsubRun{}, err
		}
	}
	if err := p.publisher.Flush(); err != nil {
		return pubsubRun{}, err
	}
	last, lastAt := int64(0), time.Now()
	for {
		got := p.received.Load() - base
		if got != last {
			last, lastAt = got, time.Now()
		}
		if got >= int64(n) || time.Since(lastAt) > quiet {
			if got == 0 {
				return pubsubRun{}, fmt.Errorf("none of %d orders reached the function", n)
			}
			return pubsubRun{events: int(got), took: lastAt.Sub(start), lost: n - int(got)}, nil
		}
		time.Sleep(time.Millisecond)
	}
}

// reportNATSConnector prints and records the connector beside the
// nats-connector.
func reportNATSConnector(stdout io.Writer, ours, theirs pubsubRun, record func(...benchresult.Figure)) {
	fmt.Fprintf(stdout, "OpenFaaS nats-connector 0.3.0, AT MOST ONCE (core NATS, no stream: an order published while it is down or dropped as a slow consumer is lost; %d of %d lost here), synchronous invocation, unsigned: %d orders dispatched in %s: %.0f events/s, %s an event\n",
		theirs.lost, theirs.events+theirs.lost, theirs.events, theirs.took.Round(time.Millisecond), theirs.rate(), theirs.cost)
	fmt.Fprintf(stdout, "connector (at least once, JetStream, signed) / OpenFaaS nats-connector (at most once): %.2f × the rate (target >= 3), %.2f × less CPU an event\n",
		ours.rate()/theirs.rate(), theirs.cost.micros()/ours.cost.micros())
	record(
		benchresult.Higher("pubsub/vs-nats-connector", "publish/subscribe dispatched, connector (at least once, JetStream)", ours.rate(), theirs.rate(),
			"events/s", "OpenFaaS nats-connector 0.3.0 (at most once, core NATS), same function and server").WithTarget(3),
		benchresult.Lower("pubsub/vs-nats-connector-cpu", "publish/subscribe CPU an event, connector (at least once, JetStream)", ours.cost.micros(),
			theirs.cost.micros(), "µs", "OpenFaaS nats-connector 0.3.0 (at most once, core NATS), same function and server"))
}

// waitFor polls ok every 20 ms until it holds or d has passed.
func waitFor(d time.Duration, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// processCPU is the CPU time (user and system) process pid has used, from
// /proc (in clock ticks of 10 ms: USER_HZ is 100 on Linux); 0 when it
// cannot be read.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command's name, which may hold spaces, in
	// parentheses: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
