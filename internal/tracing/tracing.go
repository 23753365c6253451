// Package tracing carries OpenTelemetry traces across Caliopen's hops: W3C
// trace context in NATS headers (emitters, the connector) and on the HTTP
// leg (the connector, fnhttp), spans around store, blob, SMTP and IMAP
// calls.
//
// A process that starts traces (the connector, a function's adapter, the
// SMTP listener, the API) holds a TracerProvider from Open, passed to it
// explicitly. Everything below opens child spans with Start, which takes
// the tracer of the span its context carries: with tracing off that span
// does not record, and Start returns at once without allocating.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Scope names the instrumentation in every span.
const Scope = "github.com/caliopen/functions"

// Off returns the provider of a process without tracing: its spans record
// nothing and cost nothing.
func Off() trace.TracerProvider { return noop.NewTracerProvider() }

// Config says where spans go, from the standard OpenTelemetry variables.
type Config struct {
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
	// OTEL_EXPORTER_OTLP_ENDPOINT; empty turns tracing off.
	Endpoint string
	// Service is OTEL_SERVICE_NAME, else the process's own name.
	Service string
}

// LoadConfig reads the OpenTelemetry variables: tracing is on when an OTLP
// endpoint is set, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER
// is none. Only OTLP over HTTP (http/protobuf, the default) is exported;
// the exporter reads the other OTEL_EXPORTER_OTLP_* variables itself.
func LoadConfig(getenv func(string) string, service string) (Config, error) {
	c := Config{Endpoint: getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), Service: service}
	if c.Endpoint == "" {
		c.Endpoint = getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if s := getenv("OTEL_SERVICE_NAME"); s != "" {
		c.Service = s
	}
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || getenv("OTEL_TRACES_EXPORTER") == "none" {
		c.Endpoint = ""
	}
	var errs []error
	if e := getenv("OTEL_TRACES_EXPORTER"); e != "" && e != "otlp" && e != "none" {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: want otlp or none", e))
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := getenv(k); p != "" && p != "http/protobuf" {
			errs = append(errs, fmt.Errorf("%s=%s: only http/protobuf is exported", k, p))
		}
	}
	return c, errors.Join(errs...)
}

// Open returns the provider the config asks for and its shutdown, which
// flushes the spans not yet exported. With no endpoint the provider is nil:
// the processes' dependencies take nil as tracing off.
func Open(ctx context.Context, c Config) (trace.TracerProvider, func(context.Context) error, error) {
	if c.Endpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(c.Service))),
	)
	return tp, tp.Shutdown, nil
}

// Tracer is the project's tracer of tp.
func Tracer(tp trace.TracerProvider) trace.Tracer { return tp.Tracer(Scope) }

// Start opens a child span of the span ctx carries, with that span's
// tracer. When it does not record (tracing off, or the trace not sampled)
// Start returns ctx and that span unchanged: ending it is a no-op.
func Start(ctx context.Context, name string, kind trace.SpanKind, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(Scope).Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
}

// End ends span, marking it failed with err when err is not nil.
func End(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Inject writes the trace context of ctx into h (an http.Header or the
// map of a nats.Header) under the W3C names, lower case as NATS headers
// keep them. It writes nothing when ctx carries no valid span.
func Inject(ctx context.Context, h map[string][]string) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	propagation.TraceContext{}.Inject(ctx, carrier(h))
}

// Extract returns ctx with the remote span context h carries, if any.
// Keys are looked up as written and in their HTTP canonical form.
func Extract(ctx context.Context, h map[string][]string) context.Context {
	if first(h, "traceparent") == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, carrier(h))
}

// carrier is a TextMapCarrier over headers whose keys may be lower case
// (NATS) or canonical (HTTP).
type carrier map[string][]string

func (c carrier) Get(key string) string { return first(c, key) }

func (c carrier) Set(key, value string) { c[key] = []string{value} }

func (c carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

func first(h map[string][]string, key string) string {
	v := h[key]
	if len(v) == 0 {
		v = h[canonical(key)]
	}
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// canonical is the HTTP canonical form of the two W3C names.
func canonical(key string) string {
	switch key {
	case "traceparent":
		return "Traceparent"
	case "tracestate":
		return "Tracestate"
	}
	return key
}
