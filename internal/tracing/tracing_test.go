package tracing

import (
	"context"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		env      map[string]string
		endpoint string
		service  string
		wantErr  string
	}{
		{env: map[string]string{}, service: "fn"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318"}, endpoint: "http://j:4318", service: "fn"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/v1/traces",
			"OTEL_SERVICE_NAME": "svc"}, endpoint: "http://t:4318/v1/traces", service: "svc"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_SDK_DISABLED": "true"}, service: "fn"},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://j:4318", "OTEL_TRACES_EXPORTER": "none"}, service: "fn"},
		{env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, service: "fn",
			wantErr: "OTEL_TRACES_EXPORTER=zipkin: want otlp or none\nOTEL_EXPORTER_OTLP_PROTOCOL=grpc: only http/protobuf is exported"},
	}
	for _, tt := range tests {
		c, err := LoadConfig(func(k string) string { return tt.env[k] }, "fn")
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if c.Endpoint != tt.endpoint || c.Service != tt.service || gotErr != tt.wantErr {
			t.Errorf("LoadConfig(%v) = %+v, %q; want endpoint %q service %q error %q", tt.env, c, gotErr, tt.endpoint, tt.service, tt.wantErr)
		}
	}
}

func TestOpenOffIsNil(t *testing.T) {
	tp, shutdown, err := Open(context.Background(), Config{Service: "fn"})
	if tp != nil || err != nil || shutdown(context.Background()) != nil {
		t.Errorf("Open without endpoint = %v, %v; want nil, nil", tp, err)
	}
}

// TestPropagation carries a span's context through NATS-style (lower
// case) and HTTP-style (canonical) headers and continues it.
func TestPropagation(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, root := Tracer(tp).Start(context.Background(), "root")
	nats := map[string][]string{}
	Inject(ctx, nats)
	if v := nats["traceparent"]; len(v) != 1 || !strings.Contains(v[0], root.SpanContext().TraceID().String()) {
		t.Fatalf("injected %v", nats)
	}
	httpH := http.Header{}
	httpH.Set("Traceparent", nats["traceparent"][0]) // as a server reads it
	for name, h := range map[string]map[string][]string{"nats": nats, "http": httpH} {
		got := trace.SpanContextFromContext(Extract(context.Background(), h))
		if got.TraceID() != root.SpanContext().TraceID() || got.SpanID() != root.SpanContext().SpanID() || !got.IsRemote() {
			t.Errorf("%s: extracted %v, want the root's context", name, got)
		}
	}
	child, span := Start(Extract(context.Background(), nats), "child", trace.SpanKindServer)
	if span.IsRecording() {
		t.Error("a child of a remote context alone records: Start needs a recording parent")
	}
	if child == nil {
		t.Fatal("nil context")
	}
	_, span = Start(ctx, "child", trace.SpanKindClient)
	End(span, nil)
	root.End()
	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Name() != "child" || ended[0].Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("ended spans %v, want child under root", ended)
	}
}

// TestOffCostsNothing: with no recording span in the context, Start and
// Inject allocate nothing.
func TestOffCostsNothing(t *testing.T) {
	ctx := context.Background()
	h := map[string][]string{}
	allocs := testing.AllocsPerRun(100, func() {
		c, span := Start(ctx, "op", trace.SpanKindClient)
		Inject(c, h)
		End(span, nil)
	})
	if allocs != 0 || len(h) != 0 {
		t.Errorf("%v allocations, headers %v; want none", allocs, h)
	}
}
