package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/caliopen/functions/connector"
	"github.com/caliopen/functions/internal/contract"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/invokeauth"
	"github.com/caliopen/functions/internal/tracing"
)

// tracedPath is what the traced run rebuilds, and the untraced figures
// it is compared with.
type tracedPath struct {
	url         string // NATS
	keys        *invokeauth.Keys
	inprocess   bool
	core        fnhttp.Core
	n           int
	quiet       *slog.Logger
	off1, off32 result // connector + HTTP function, tracing off
}

// benchTracing runs the request/reply load through a connector and a
// function that record spans, every request the root of a trace, all
// exported over OTLP to endpoint, and prints the cost per request against
// the same path untraced in the same run.
func benchTracing(ctx context.Context, stdout io.Writer, endpoint string, p tracedPath) error {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint+"/v1/traces"))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("caliopen-bench"))))
	defer tp.Shutdown(context.WithoutCancel(ctx))
	c := contract.Caliopen()
	mux := http.NewServeMux()
	mux.Handle("/smtp/", http.StripPrefix("/smtp", fnhttp.New(fnhttp.Config{Function: "smtp-deliver", Keys: p.keys, Tracing: tp},
		c, p.core, p.quiet)))
	ln, stopHTTP, err := serveLoopback(mux)
	if err != nil {
		return err
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
		Source:    connector.TopicMap{"outboundSMTP": {{Name: "smtp-deliver", URL: "http://" + ln.Addr().String() + "/"}}},
		Transport: transport, Tracing: tp})
	if err != nil {
		return err
	}
	if err := conn.Start(ctx); err != nil {
		return err
	}
	defer conn.Drain()
	client, err := nats.Connect(p.url)
	if err != nil {
		return err
	}
	defer client.Close()
	tracer := tracing.Tracer(tp)
	one := func() error {
		rctx, span := tracer.Start(ctx, "bench request", trace.WithSpanKind(trace.SpanKindClient))
		defer span.End()
		h := nats.Header{}
		tracing.Inject(rctx, h)
		m, err := client.RequestMsg(&nats.Msg{Subject: "outboundSMTP", Data: []byte(order), Header: h}, 10*time.Second)
		if err != nil {
			return err
		}
		if m.Header.Get(contract.HeaderServiceErrorCode) != "" {
			return fmt.Errorf("error reply %s", m.Data)
		}
		return nil
	}
	var on [2]result
	for i, conc := range []int{1, 32} {
		if _, err := drive(conc, p.n/10, one); err != nil {
			return err
		}
		if on[i], err = drive(conc, p.n, one); err != nil {
			return err
		}
	}
	if err := tp.ForceFlush(ctx); err != nil {
		return fmt.Errorf("export to %s: %w", endpoint, err)
	}
	fmt.Fprintf(stdout, "\ntracing on (3 spans a request, exported over OTLP to %s), against the same path untraced above\n", endpoint)
	fmt.Fprintf(stdout, "%-28s %5s %10s %10s %10s\n", "path", "conc", "req/s", "p50", "p99")
	for _, r := range on {
		fmt.Fprintf(stdout, "%-28s %5d %10.0f %10s %10s\n", "connector + HTTP, traced", r.conc, r.rate(), r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	}
	perReq := time.Duration((1/on[1].rate() - 1/p.off32.rate()) * float64(time.Second))
	fmt.Fprintf(stdout, "tracing cost per request: p50 +%s at concurrency 1; %s of the machine's time per request at concurrency 32 (throughput ratio traced/untraced %.2f)\n",
		(on[0].p50 - p.off1.p50).Round(time.Microsecond), perReq.Round(100*time.Nanosecond), on[1].rate()/p.off32.rate())
	return nil
}
