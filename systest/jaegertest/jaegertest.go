// Package jaegertest exports a test's spans to a real Jaeger
// (scripts/test-peers/jaeger.sh) and reads the traces back through its
// query API, to check a path's parent chain.
package jaegertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/caliopen/functions/internal/outbound/outboundtest"
)

// Exporting returns a provider that sends every span to Jaeger's OTLP
// receiver under service, and the Jaeger. Without Jaeger the test is
// skipped, or fails under CI=true.
func Exporting(t *testing.T, service string) (*sdktrace.TracerProvider, outboundtest.Jaeger) {
	t.Helper()
	j := outboundtest.JaegerPeer(t)
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(j.OTLP+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(50*time.Millisecond)),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, j
}

// Span is one span as Jaeger's query API returns it.
type Span struct {
	TraceID    string `json:"traceID"`
	SpanID     string `json:"spanID"`
	Operation  string `json:"operationName"`
	References []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
}

func (s Span) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// Traces returns the traces Jaeger holds for service, each as its spans,
// once one of them has a span named last (the end of the path) and no new
// span arrived in the last poll.
func Traces(t *testing.T, j outboundtest.Jaeger, service, last string) [][]Span {
	t.Helper()
	var got [][]Span
	count := -1
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		got = fetchTraces(t, j, service)
		n := 0
		seen := false
		for _, tr := range got {
			n += len(tr)
			seen = seen || slices.ContainsFunc(tr, func(s Span) bool { return s.Operation == last })
		}
		if seen && n == count {
			return got
		}
		count = n
	}
	t.Fatalf("Jaeger has no trace of %s with a span %q: %v", service, last, got)
	return nil
}

func fetchTraces(t *testing.T, j outboundtest.Jaeger, service string) [][]Span {
	t.Helper()
	res, err := http.Get(j.Query + "/api/traces?limit=50&service=" + url.QueryEscape(service))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data []struct {
			Spans []Span `json:"spans"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("Jaeger's answer: %v", err)
	}
	var out [][]Span
	for _, d := range body.Data {
		out = append(out, d.Spans)
	}
	return out
}

// CheckChain checks that the spans form one trace, holding chain in order,
// each span the parent of the next, the first a root.
func CheckChain(t *testing.T, trs [][]Span, chain []string) {
	t.Helper()
	if len(trs) != 1 {
		t.Fatalf("%d traces, want one:\n%s", len(trs), picture(trs))
	}
	byID := map[string]Span{}
	for _, s := range trs[0] {
		byID[s.SpanID] = s
	}
	find := func(op, parent string) (Span, bool) {
		for _, s := range trs[0] {
			if s.Operation == op && s.parent() == parent {
				return s, true
			}
		}
		return Span{}, false
	}
	parent := ""
	for i, op := range chain {
		s, ok := find(op, parent)
		if !ok {
			want := "a root span"
			if i > 0 {
				want = "a child of " + chain[i-1]
			}
			t.Fatalf("no span %q as %s:\n%s", op, want, picture(trs))
		}
		parent = s.SpanID
	}
	t.Logf("%v found in:\n%s", chain, picture(trs))
}

// picture draws the traces as indented operation names.
func picture(trs [][]Span) string {
	var b strings.Builder
	for i, tr := range trs {
		fmt.Fprintf(&b, "trace %d:\n", i+1)
		children := map[string][]Span{}
		for _, s := range tr {
			children[s.parent()] = append(children[s.parent()], s)
		}
		ids := map[string]bool{}
		for _, s := range tr {
			ids[s.SpanID] = true
		}
		var walk func(s Span, depth int)
		walk = func(s Span, depth int) {
			fmt.Fprintf(&b, "%s%s\n", strings.Repeat("  ", depth+1), s.Operation)
			for _, c := range children[s.SpanID] {
				walk(c, depth+1)
			}
		}
		for _, s := range tr {
			if !ids[s.parent()] {
				walk(s, 0)
			}
		}
	}
	return b.String()
}

// With returns the traces that hold a span named op.
func With(trs [][]Span, op string) [][]Span {
	var out [][]Span
	for _, tr := range trs {
		if slices.ContainsFunc(tr, func(s Span) bool { return s.Operation == op }) {
			out = append(out, tr)
		}
	}
	return out
}
