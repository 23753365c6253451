package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/benchresult"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/tracing"
)

// tracedPath is what the tracing runs rebuild.
type tracedPath struct {
	url       string // NATS
	keys      *invokeauth.Keys
	inprocess bool
	core      fnhttp.Core
	n         int
	quiet     *slog.Logger
}

// measured is one load of the tracing comparison: its figures and the
// process's CPU time per request.
type measured struct {
	result
	cpu time.Duration
}

// benchTracing runs the request/reply load through a connector and a
// function without tracing and with tracing on (every request the root of
// a trace, three spans a request exported over OTLP to endpoint),
// alternately, and prints the cost per request: CPU time, which the other
// processes of the machine disturb less than latency, and p50.
func benchTracing(ctx context.Context, stdout io.Writer, endpoint string, p tracedPath, record func(...benchresult.Figure)) error {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("caliopen-bench"))))
	defer tp.Shutdown(context.WithoutCancel(ctx))
	fmt.Fprintf(stdout, "\ntracing off and on (3 spans a request, exported over OTLP to %s), alternately, concurrency 1 then 32\n", endpoint)
	fmt.Fprintf(stdout, "%-28s %5s %10s %10s %10s %12s\n", "path", "conc", "req/s", "p50", "p99", "CPU/request")
	var off, on [2][]measured
	for range 2 {
		for _, traced := range []bool{false, true} {
			var prov trace.TracerProvider
			name := "connector + HTTP, untraced"
			if traced {
				prov, name = tp, "connector + HTTP, traced"
			}
			ms, err := tracedLoad(ctx, p, prov)
			if err != nil {
				return err
			}
			for i, m := range ms {
				fmt.Fprintf(stdout, "%-28s %5d %10.0f %10s %10s %12s\n", name, m.conc, m.rate(), m.p50.Round(time.Microsecond),
					m.p99.Round(time.Microsecond), m.cpu.Round(100*time.Nanosecond))
				if traced {
					on[i] = append(on[i], m)
				} else {
					off[i] = append(off[i], m)
				}
			}
		}
	}
	if err := tp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("export to %s: %w", endpoint, err)
	}
	mean := func(ms []measured, f func(measured) time.Duration) time.Duration {
		var sum time.Duration
		for _, m := range ms {
			sum += f(m)
		}
		return sum / time.Duration(len(ms))
	}
	cpu := func(m measured) time.Duration { return m.cpu }
	p50 := func(m measured) time.Duration { return m.p50 }
	for i, conc := range []int{1, 32} {
		fmt.Fprintf(stdout, "tracing cost per request at concurrency %d: CPU %+s (%s untraced), p50 %+s (means of 2 runs each)\n", conc,
			(mean(on[i], cpu) - mean(off[i], cpu)).Round(100*time.Nanosecond), mean(off[i], cpu).Round(100*time.Nanosecond),
			(mean(on[i], p50) - mean(off[i], p50)).Round(time.Microsecond))
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
		record(benchresult.Lower(fmt.Sprintf("tracing/conc%d-cpu", conc), fmt.Sprintf("CPU a request at concurrency %d, traced", conc),
			us(mean(on[i], cpu)), us(mean(off[i], cpu)), "µs", "untraced"))
	}
	return nil
}

// tracedLoad builds a connector and a function recording spans with tp
// (nil: none), sends the load at concurrency 1 and 32, each request the
// root of a trace when tp is set, and tears them down.
func tracedLoad(ctx context.Context, p tracedPath, tp trace.TracerProvider) ([]measured, error) {
	c := contract.Caliopen()
	mux := http.NewServeMux()
	mux.Handle("/smtp/", http.StripPrefix("/smtp", fnhttp.New(fnhttp.Config{Function: "smtp-deliver", Keys: p.keys, Tracing: tp},
		c, p.core, p.quiet)))
	ln, stopHTTP, err := serveLoopback(mux)
	if err != nil {
		return nil, err
	}
	defer stopHTTP()
	cfg := connector.DefaultConfig()
	cfg.NATS.URL = p.url
	cfg.MaxInflight = 64
	cfg.InvokeKeys = p.keys
	var transport http.RoundTripper
	if p.inprocess {
		transport = &connector.InProcess{Host: ln.Addr().String(), Handler: mux}
	}
	conn, err := connector.New(cfg, connector.Deps{Logger: p.quiet, Registry: prometheus.NewRegistry(), Contract: c,
		Source:    connector.TopicMap{"outboundSMTP": {{Name: "smtp-deliver", URL: "http://" + ln.Addr().String() + "/smtp/"}}},
		Transport: transport, Tracing: tp})
	if err != nil {
		return nil, err
	}
	if err := conn.Start(ctx); err != nil {
		return nil, err
	}
	defer conn.Drain()
	client, err := nats.Connect(p.url)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	var tracer trace.Tracer
	if tp != nil {
		tracer = tracing.Tracer(tp)
	}
	one := func() error {
		msg := &nats.Msg{Subject: "outboundSMTP", Data: []byte(order)}
		if tracer != nil {
			rctx, span := tracer.Start(ctx, "bench request", trace.WithSpanKind(trace.SpanKindClient))
			defer span.End()
			msg.Header = nats.Header{}
			tracing.Inject(rctx, msg.Header)
		}
		m, err := client.RequestMsg(msg, 10*time.Second)
		if err != nil {
			return err
		}
		if m.Header.Get(contract.HeaderServiceErrorCode) != "" {
			return fmt.Errorf("error reply %s", m.Data)
		}
		return nil
	}
	var out []measured
	for _, conc := range []int{1, 32} {
		if _, err := drive(conc, p.n/10, one); err != nil {
			return nil, err
		}
		before := cpuTime()
		r, err := drive(conc, p.n, one)
		if err != nil {
			return nil, err
		}
		out = append(out, measured{result: r, cpu: (cpuTime() - before) / time.Duration(r.n)})
	}
	return out, nil
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
