package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the real gateway's metrics (openfaas/faas
// gateway/metrics/metrics.go), labelled with function_name = name.namespace.
type metrics struct {
	invocations  *prometheus.CounterVec   // gateway_function_invocation_total{function_name,code}
	seconds      *prometheus.HistogramVec // gateway_functions_seconds{function_name,code}
	started      *prometheus.CounterVec   // gateway_function_invocation_started{function_name}
	serviceCount *prometheus.GaugeVec     // gateway_service_count{function_name}
}

// newMetrics registers the metrics; gateway_service_count only when
// replicas is set (else a provider reports it).
func newMetrics(reg prometheus.Registerer, replicas bool) (*metrics, error) {
	m := &metrics{
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_total",
			Help: "Function invocations by status code.",
		}, []string{"function_name", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_functions_seconds",
			Help:    "Function invocation time taken.",
			Buckets: prometheus.DefBuckets,
		}, []string{"function_name", "code"}),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_function_invocation_started",
			Help: "Function invocations started.",
		}, []string{"function_name"}),
		serviceCount: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_service_count",
			Help: "Replicas of each function.",
		}, []string{"function_name"}),
	}
	cs := []prometheus.Collector{m.invocations, m.seconds, m.started}
	if replicas {
		cs = append(cs, m.serviceCount)
	} else {
		m.serviceCount = nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register gateway metrics: %w", err)
		}
	}
	return m, nil
}
