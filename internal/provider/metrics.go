package provider

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the provider's: OpenFaaS's replica count, and the cold starts
// and deaths of replicas, labelled with function_name = name.namespace as
// the gateway's are.
type metrics struct {
	replicas         *prometheus.GaugeVec     // gateway_service_count{function_name}
	coldStarts       *prometheus.CounterVec   // caliopen_provider_cold_starts_total{function_name}
	coldStartSeconds *prometheus.HistogramVec // caliopen_provider_cold_start_seconds{function_name}
	deaths           *prometheus.CounterVec   // caliopen_provider_replica_deaths_total{function_name}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		replicas: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_service_count",
			Help: "Replicas of each function, starting or ready.",
		}, []string{"function_name"}),
		coldStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caliopen_provider_cold_starts_total",
			Help: "Replicas started, to their first readiness.",
		}, []string{"function_name"}),
		coldStartSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "caliopen_provider_cold_start_seconds",
			Help:    "Time from a replica's process start to its listening.",
			Buckets: []float64{.005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}, []string{"function_name"}),
		deaths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caliopen_provider_replica_deaths_total",
			Help: "Replicas that ended without being stopped.",
		}, []string{"function_name"}),
	}
	for _, c := range []prometheus.Collector{m.replicas, m.coldStarts, m.coldStartSeconds, m.deaths} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register provider metrics: %w", err)
		}
	}
	return m, nil
}
