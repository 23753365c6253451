package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scheduler's Prometheus metrics. A nil *Metrics counts
// nothing.
type Metrics struct {
	orders *prometheus.CounterVec // subject, result
	runs   *prometheus.CounterVec // outcome: spread, lost, skipped, claim_error
	ticks  *prometheus.CounterVec // result
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "caliopen_scheduler"
	m := &Metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "orders_total",
			Help: "Sync orders sent, by subject and result (ok, error)."}, []string{"subject", "result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_total",
			Help: "Due runs not sent, by outcome (spread, lost, skipped, claim_error)."}, []string{"outcome"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ticks_total",
			Help: "Ticks, by result (ok, error)."}, []string{"result"}),
	}
	reg.MustRegister(m.orders, m.runs, m.ticks)
	return m
}

func (m *Metrics) order(subject string, err error) {
	if m == nil {
		return
	}
	m.orders.WithLabelValues(subject, result(err)).Inc()
}

func (m *Metrics) tick(st Stats, err error) {
	if m == nil {
		return
	}
	m.ticks.WithLabelValues(result(err)).Inc()
	m.runs.WithLabelValues("spread").Add(float64(st.Spread))
	m.runs.WithLabelValues("lost").Add(float64(st.Lost))
	m.runs.WithLabelValues("skipped").Add(float64(st.Skipped))
	m.runs.WithLabelValues("claim_error").Add(float64(st.Errors))
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
