package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraped is one /metrics scrape.
type scraped map[string]*dto.MetricFamily

// scrape reads h's /metrics in the text format, as Prometheus does.
func scrape(t *testing.T, h http.Handler) scraped {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("GET /metrics = %d", w.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// metric finds the sample of family name whose function_name (and code,
// when given) match; nil when there is none.
func (s scraped) metric(name, fn, code string) *dto.Metric {
	fam := s[name]
	if fam == nil {
		return nil
	}
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["function_name"] == fn && (code == "" || labels["code"] == code) {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value, or the histogram's sample count;
// -1 when absent.
func (s scraped) value(name, fn, code string) float64 {
	m := s.metric(name, fn, code)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func TestMetricsPerCode(t *testing.T) {
	t.Parallel()
	g, _ := newTestGateway(t, Config{}, testFunctions())
	for _, target := range []string{
		"/function/smtp-deliver", "/function/smtp-deliver.openfaas-fn/x", // 200 twice
		"/function/inbound", // 503
		"/function/unknown", // 404, not counted
	} {
		do(g, http.MethodPost, target, "{}", nil)
	}
	s := scrape(t, g)
	tests := []struct {
		metric, fn, code string
		want             float64
	}{
		{"gateway_function_invocation_total", "smtp-deliver.openfaas-fn", "200", 2},
		{"gateway_function_invocation_total", "inbound.openfaas-fn", "503", 1},
		{"gateway_function_invocation_total", "inbound.openfaas-fn", "200", -1},
		{"gateway_function_invocation_total", "unknown.openfaas-fn", "", -1},
		{"gateway_functions_seconds", "smtp-deliver.openfaas-fn", "200", 2},
		{"gateway_functions_seconds", "inbound.openfaas-fn", "503", 1},
		{"gateway_function_invocation_started", "smtp-deliver.openfaas-fn", "", 2},
		{"gateway_function_invocation_started", "inbound.openfaas-fn", "", 1},
		{"gateway_service_count", "api.openfaas-fn", "", 1},
		{"gateway_service_count", "smtp-deliver.openfaas-fn", "", 1},
	}
	for _, tt := range tests {
		if got := s.value(tt.metric, tt.fn, tt.code); got != tt.want {
			t.Errorf("%s{function_name=%q,code=%q} = %v, want %v", tt.metric, tt.fn, tt.code, got, tt.want)
		}
	}
	for name, typ := range map[string]dto.MetricType{
		"gateway_function_invocation_total":   dto.MetricType_COUNTER,
		"gateway_functions_seconds":           dto.MetricType_HISTOGRAM,
		"gateway_function_invocation_started": dto.MetricType_COUNTER,
		"gateway_service_count":               dto.MetricType_GAUGE,
	} {
		if fam := s[name]; fam == nil || fam.GetType() != typ {
			t.Errorf("metric %s missing or not a %v", name, typ)
		}
	}
}
