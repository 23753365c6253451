package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/natsembed"
	"github.com/caliopen/functions/internal/natsusers"

	"github.com/caliopen/functions/internal/cpuprof"
)

const order = `{"message_id":"m1","order":"deliver","remote_id":"i1","user_id":"u1"}`
const event = `{"order":"contact_update","contact_id":"c1","user_id":"u1"}`

// result is one measured load.
type result struct {
	name     string
	conc     int
	n        int
	elapsed  time.Duration
	p50, p99 time.Duration
	// cost is the whole process's CPU and allocations over the load, a
	// call: the callers, NATS, the connector and the function together.
	cost cost
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	perWorker := fs.Int("requests", 2000, "requests per requester")
	events := fs.Int("events", 20000, "events for the publish/subscribe run")
	storeN := fs.Int("store-messages", 5000, "messages for the store run")
	pgURL := fs.String("postgres", os.Getenv("CALIOPEN_TEST_POSTGRES_URL"), "PostgreSQL server for the store run (empty: SQLite only)")
	inprocess := fs.Bool("inprocess", false, "call the function in process (as the local system does) instead of over loopback TCP")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	memprofile := fs.String("memprofile", "", "write an allocation profile of the whole run to this file (go tool pprof -sample_index=alloc_objects)")
	unsigned := fs.Bool("unsigned", false, "invoke without the invocation signature (deployments sign; this measures its cost)")
	natsAuth := fs.Bool("nats-auth", false, "authenticate every NATS client as the local system does: the connector in process as its own user, the requesters as the operator over TCP, each with its permissions")
	jaeger := fs.String("jaeger", os.Getenv("CALIOPEN_TEST_JAEGER_OTLP"), "OTLP/HTTP endpoint of a Jaeger: the request/reply run again with tracing on, its cost per request printed (empty: skipped)")
	natsConnector := fs.String("nats-connector", os.Getenv("CALIOPEN_TEST_NATS_CONNECTOR"), "OpenFaaS nats-connector binary reading its NATS port from CALIOPEN_NATS_PORT: publish/subscribe beside it (empty: skipped; the module proxy does not serve it)")
	figures := fs.String("figures", "", "append the figures, each with its baseline and ratio, to this file (package benchresult)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var figs []benchresult.Figure
	record := func(f ...benchresult.Figure) { figs = append(figs, f...) }
	defer func() { // what was measured before a failure is kept
		err = errors.Join(err, benchresult.Append(*figures, figs...))
	}()
	stopProfile, err := cpuprof.Start(*cpuprofile)
	if err != nil {
		return err
	}
	defer stopProfile()
	defer writeAllocs(*memprofile)
	dir, err := os.MkdirTemp("", "caliopen-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var auth benchAuth
	if *natsAuth {
		auth = newBenchAuth(contract.Caliopen())
		*jaeger = ""
	}
	srv, err := natsembed.Start(natsembed.Options{StoreDir: dir, Users: auth.users})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	url := srv.ClientURL()
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))

	// The limit: a queue subscriber answering directly.
	direct, err := nats.Connect(url, auth.as(benchResponder)...)
	if err != nil {
		return err
	}
	defer direct.Close()
	reply := []byte(`{"error":false,"message":"ok"}`)
	c := contract.Caliopen()
	smtp, _ := c.Subject("outboundSMTP")
	if _, err := direct.QueueSubscribe("bench.direct", "SMTPqueue", func(m *nats.Msg) {
		if _, err := smtp.Decode(m.Data); err != nil {
			m.Respond([]byte(`{"error":true}`))
			return
		}
		m.Respond(reply)
	}); err != nil {
		return err
	}

	// Through the connector: the same work as an HTTP function behind the
	// shared adapter.
	var received atomic.Int64
	core := func(_ context.Context, call *fnhttp.Call) (fnhttp.Result, error) {
		if call.Request.Order.Mode == contract.PubSub {
			received.Add(1)
		}
		return fnhttp.Result{Message: "ok"}, nil
	}
	// As deployed, the connector signs each call and the functions check it.
	keys, err := invokeauth.ParseKeys(rand.Text() + rand.Text())
	if err != nil {
		return err
	}
	if *unsigned {
		keys = nil
	}
	mux := http.NewServeMux()
	mux.Handle("/smtp/", http.StripPrefix("/smtp", fnhttp.New(fnhttp.Config{Function: "smtp-deliver", Keys: keys}, c, core, quiet)))
	mux.Handle("/contact/", http.StripPrefix("/contact", fnhttp.New(fnhttp.Config{Function: "contact-action", Keys: keys}, c, core, quiet)))
	// An OpenFaaS gateway's routes for the nats-connector: the function
	// list with its topic annotation, and the function itself.
	gw := &fakeGateway{}
	mux.Handle("/system/", gw)
	mux.Handle("/function/", gw)
	ln, stopHTTP, err := serveLoopback(mux)
	if err != nil {
		return err
	}
	defer stopHTTP()
	base := "http://" + ln.Addr().String()
	src := connector.TopicMap{
		"outboundSMTP":  {{Name: "smtp-deliver", URL: base + "/smtp/"}},
		"contactAction": {{Name: "contact-action", URL: base + "/contact/"}},
	}
	cfg := connector.DefaultConfig()
	cfg.NATS.URL = url
	if *natsAuth {
		cfg.NATS.User, cfg.NATS.Password, cfg.NATS.InProcess = benchLocal, auth.passwords[benchLocal], srv
	}
	cfg.MaxInflight = 64
	cfg.InvokeKeys = keys
	var transport http.RoundTripper
	if *inprocess {
		transport = &connector.InProcess{Host: ln.Addr().String(), Handler: mux}
	}
	conn, err := connector.New(cfg, connector.Deps{Logger: quiet, Registry: prometheus.NewRegistry(), Contract: c, Source: src, Transport: transport})
	if err != nil {
		return err
	}
	if err := conn.Start(ctx); err != nil {
		return err
	}
	drained := false
	defer func() {
		if !drained {
			conn.Drain()
		}
	}()

	client, err := nats.Connect(url, auth.as(natsusers.Operator)...)
	if err != nil {
		return err
	}
	defer client.Close()

	fmt.Fprintf(stdout, "request/reply, %d requests per requester, 128-byte order, loopback, one process\n", *perWorker)
	var rows []result
	for _, conc := range []int{1, 32} {
		for _, target := range []struct{ name, subject string }{{"direct NATS responder", "bench.direct"}, {"connector + HTTP function", "outboundSMTP"}} {
			warm := *perWorker / 10
			if _, err := load(client, target.subject, conc, warm); err != nil {
				return err
			}
			r, err := load(client, target.subject, conc, *perWorker)
			if err != nil {
				return fmt.Errorf("%s: %w", target.name, err)
			}
			r.name = target.name
			rows = append(rows, r)
		}
	}
	var httpRows []result
	for _, conc := range []int{1, 32} {
		// Warmed up as the NATS paths are: connections opened, code paths hot.
		if _, err := loadHTTP(base+"/smtp/", conc, *perWorker/10, keys); err != nil {
			return fmt.Errorf("http only: %w", err)
		}
		r, err := loadHTTP(base+"/smtp/", conc, *perWorker, keys)
		if err != nil {
			return fmt.Errorf("http only: %w", err)
		}
		r.name = "HTTP function alone"
		httpRows = append(httpRows, r)
	}
	fmt.Fprintf(stdout, "%-28s %5s %10s %10s %10s %10s %8s\n", "path", "conc", "req/s", "p50", "p99", "CPU µs/req", "allocs")
	row := func(r result, note string) {
		fmt.Fprintf(stdout, "%-28s %5d %10.0f %10s %10s %10.1f %8.0f%s\n", r.name, r.conc, r.rate(), r.p50.Round(time.Microsecond),
			r.p99.Round(time.Microsecond), r.cost.micros(), r.cost.allocs, note)
	}
	for _, r := range rows {
		row(r, "")
	}
	for _, r := range httpRows {
		row(r, "   (no NATS: the HTTP hop's own cost)")
	}
	fmt.Fprintln(stdout, "(CPU and allocations: the whole process's a request, requesters, NATS, connector and function together; unlike the rates they hardly move with the machine's load)")
	d1, c1, d32, c32 := rows[0], rows[1], rows[2], rows[3]
	ratio := c32.rate() / d32.rate()
	added := c1.p50 - d1.p50
	fmt.Fprintf(stdout, "connector/direct throughput at concurrency 32: %.2f (target >= 0.50) %s\n", ratio, verdict(ratio >= 0.5))
	fmt.Fprintf(stdout, "connector/HTTP-function-alone throughput at concurrency 32: %.2f (the share of the HTTP hop's ceiling the connector keeps)\n", c32.rate()/httpRows[1].rate())
	fmt.Fprintf(stdout, "p50 added at concurrency 1: %s (target <= 200µs) %s\n", added.Round(time.Microsecond), verdict(added <= 200*time.Microsecond))
	// The composed limit: a request pays both the NATS round trip and the
	// HTTP hop, so no path through both can beat 1/(1/direct + 1/http).
	composed := 1 / (1/d32.rate() + 1/httpRows[1].rate())
	fmt.Fprintf(stdout, "connector/composed limit (direct NATS ⊕ HTTP function alone, %.0f req/s) at concurrency 32: %.2f\n", composed, c32.rate()/composed)
	// The same composition in CPU: a request through the connector pays a
	// NATS request and an HTTP call; what it spends beyond both is the
	// connector's own.
	composedCost := d32.cost.add(httpRows[1].cost)
	fmt.Fprintf(stdout, "CPU a request at concurrency 32: connector + HTTP function %s; direct NATS + HTTP function alone %s: the connector's own %.1f µs\n",
		c32.cost, composedCost, c32.cost.micros()-composedCost.micros())
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	record(
		benchresult.Higher("request-reply/conc32-composed", "request/reply at concurrency 32, connector + HTTP function", c32.rate(), composed,
			"req/s", "composed limit, direct NATS ⊕ HTTP function alone").WithTarget(0.85),
		benchresult.Higher("request-reply/conc32-direct", "request/reply at concurrency 32, connector + HTTP function", c32.rate(), d32.rate(),
			"req/s", "direct NATS responder"),
		benchresult.Lower("request-reply/conc32-cpu", "request/reply CPU a request at concurrency 32, connector + HTTP function", c32.cost.micros(),
			composedCost.micros(), "µs", "direct NATS responder + HTTP function alone"),
		benchresult.Lower("request-reply/conc1-p50", "request/reply p50 at concurrency 1, connector + HTTP function", us(c1.p50), us(d1.p50),
			"µs", "direct NATS responder"))

	// Publish/subscribe: events into the stream, dispatched at least once.
	pubsubBefore := measureCost()
	start := time.Now()
	js, err := client.JetStream(nats.PublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	for i := 0; i < *events; {
		_, err := js.PublishAsync("contactAction", []byte(event))
		if errors.Is(err, nats.ErrTooManyStalledMsgs) { // a loaded machine: let the acks catch up
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				return errors.New("publish acks did not arrive")
			}
			continue
		}
		if err != nil {
			return err
		}
		i++
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return errors.New("publish acks did not arrive")
	}
	published := time.Since(start)
	deadline := time.Now().Add(2 * time.Minute)
	for received.Load() < int64(*events) {
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d events dispatched", received.Load(), *events)
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	ours := pubsubRun{events: *events, took: took, cost: measureCost().since(pubsubBefore).per(*events)}
	fmt.Fprintf(stdout, "publish/subscribe at-least-once: %d events published (acked by JetStream) in %s, dispatched to the HTTP function in %s: %.0f events/s, %s an event\n",
		*events, published.Round(time.Millisecond), took.Round(time.Millisecond), ours.rate(), ours.cost)
	record(benchresult.Higher("pubsub/dispatch", "publish/subscribe, published and dispatched at least once", ours.rate(),
		float64(*events)/published.Seconds(), "events/s", "publishing alone, acked by JetStream"))

	// The OpenFaaS nats-connector on the same server, the same function
	// behind a gateway of the same process, the same number of orders.
	switch {
	case *natsConnector == "":
		fmt.Fprintln(stdout, "OpenFaaS nats-connector: NOT MEASURED (the module proxy does not serve it; set CALIOPEN_TEST_NATS_CONNECTOR or -nats-connector to a binary of it)")
	case *natsAuth:
		fmt.Fprintln(stdout, "OpenFaaS nats-connector: skipped with -nats-auth (it connects without credentials)")
	default:
		theirs, err := benchNATSConnector(ctx, natsConnectorPath{bin: *natsConnector, natsURL: url, dir: dir, n: *events,
			core: core, received: &received, publisher: client, gateway: gw, gatewayURL: base})
		if err != nil {
			return fmt.Errorf("OpenFaaS nats-connector: %w", err)
		}
		reportNATSConnector(stdout, ours, theirs, record)
	}

	if *jaeger == "" {
		fmt.Fprintln(stdout, "tracing on: skipped (set CALIOPEN_TEST_JAEGER_OTLP or -jaeger)")
	} else {
		drained = true
		conn.Drain() // the traced connector takes its subjects
		if err := benchTracing(ctx, stdout, *jaeger, tracedPath{url: url, keys: keys, inprocess: *inprocess, core: core, n: *perWorker,
			quiet: quiet}, record); err != nil {
			return fmt.Errorf("tracing on: %w", err)
		}
	}

	fmt.Fprintf(stdout, "\nstore: %d received messages (1 KiB body) written one by one, then listed in pages of 100; baseline: plain SQL on the same database\n", *storeN)
	if err := benchStore(ctx, stdout, sqliteTarget(dir), *storeN, record); err != nil {
		return fmt.Errorf("store on SQLite: %w", err)
	}
	if *pgURL == "" {
		fmt.Fprintln(stdout, "PostgreSQL: skipped (set CALIOPEN_TEST_POSTGRES_URL or -postgres)")
		return nil
	}
	pg, err := postgresTarget(ctx, *pgURL)
	if err != nil {
		return fmt.Errorf("store on PostgreSQL: %w", err)
	}
	if err := benchStore(ctx, stdout, pg, *storeN, record); err != nil {
		return fmt.Errorf("store on PostgreSQL: %w", err)
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// load runs conc requesters, each sending n requests one after the other.
func load(nc *nats.Conn, subject string, conc, n int) (result, error) {
	return drive(conc, n, func() error {
		m, err := nc.Request(subject, []byte(order), 10*time.Second)
		if err != nil {
			return err
		}
		if m.Header.Get(connector.HeaderServiceErrorCode) != "" {
			return fmt.Errorf("error reply %s", m.Data)
		}
		return nil
	})
}

// loadHTTP posts the order straight to the function, conc clients at once.
func loadHTTP(url string, conc, n int, keys *invokeauth.Keys) (result, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc + 8}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	return drive(conc, n, func() error {
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(order))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if keys != nil { // signed per call, as the connector does
			req.Header.Set(invokeauth.Header, keys.Sign(time.Now(), invokeauth.Call{Method: http.MethodPost,
				Function: "smtp-deliver", Body: []byte(order)}))
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
}

// drive runs conc workers calling one n times each and times every call.
func drive(conc, n int, one func() error) (result, error) {
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	var failed atomic.Value
	before := measureCost()
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lat[w] = make([]time.Duration, 0, n)
			for i := 0; i < n; i++ {
				t := time.Now()
				if err := one(); err != nil {
					failed.Store(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	spent := measureCost().since(before)
	if err, _ := failed.Load().(error); err != nil {
		return result{}, err
	}
	r := summarize(lat, conc, elapsed)
	r.cost = spent.per(r.n)
	return r, nil
}

// summarize sorts the latencies of a load.
func summarize(lat [][]time.Duration, conc int, elapsed time.Duration) result {
	all := slices.Concat(lat...)
	slices.Sort(all)
	return result{conc: conc, n: len(all), elapsed: elapsed, p50: all[len(all)/2], p99: all[len(all)*99/100]}
}

// serveLoopback serves h on a free loopback port until stop.
func serveLoopback(h http.Handler) (ln net.Listener, stop func() error, err error) {
	if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, nil, err
	}
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	return ln, hs.Close, nil
}

// The users of a run with -nats-auth besides the table's operator: the
// connector's in-process user, as the local system's, and the direct
// responder's.
const (
	benchLocal     = "bench-local"
	benchResponder = "bench-responder"
)

// benchAuth is the server's users and their passwords (none without
// -nats-auth).
type benchAuth struct {
	users     []natsembed.User
	passwords map[string]string
}

func newBenchAuth(c *contract.Contract) benchAuth {
	a := benchAuth{passwords: map[string]string{}}
	for _, name := range []string{benchLocal, benchResponder, natsusers.Operator} {
		a.passwords[name] = rand.Text()
	}
	op := natsusers.OperatorUser(c)
	a.users = []natsembed.User{
		{Name: benchLocal, Password: a.passwords[benchLocal], Publish: []string{">"}, Subscribe: []string{">"}, InProcessOnly: true},
		{Name: benchResponder, Password: a.passwords[benchResponder], Subscribe: []string{"bench.direct SMTPqueue"}, Responses: true},
		{Name: op.Name, Password: a.passwords[op.Name], Publish: append(op.Publish, "bench.direct"), Subscribe: op.Subscribe},
	}
	return a
}

// as is the options connecting as user (none without -nats-auth).
func (a benchAuth) as(user string) []nats.Option {
	if a.passwords == nil {
		return nil
	}
	return []nats.Option{nats.UserInfo(user, a.passwords[user]), nats.CustomInboxPrefix(natsusers.InboxPrefixOf(user))}
}
