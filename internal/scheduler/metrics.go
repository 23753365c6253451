package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scheduler's Prometheus metrics. A nil *Metrics counts
// nothing.
type Metrics struct {
	orders *prometheus.CounterVec // subject, result
	runs   *prometheus.CounterVec // outcome: spread, lost, skipped
	ticks  *prometheus.CounterVec // result
	// backlog and catchUp are the runs left due by the last tick and how
	// long claiming them takes.
	backlog prometheus.Gauge
	catchUp prometheus.Gauge
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "caliopen_scheduler"
	m := &Metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "orders_total",
			Help: "Sync orders sent, by subject and result (ok, error)."}, []string{"subject", "result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "runs_total",
			Help: "Due runs not sent, by outcome (spread, lost, skipped)."}, []string{"outcome"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "ticks_total",
			Help: "Ticks, by result (ok, error)."}, []string{"result"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "backlog_runs",
			Help: "Runs still due after the last tick, which stopped at its bound (0: it handled them all)."}),
		catchUp: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "catch_up_seconds",
			Help: "Estimated time to claim the backlog at the per-tick bound."}),
	}
	reg.MustRegister(m.orders, m.runs, m.ticks, m.backlog, m.catchUp)
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
	if err == nil {
		m.backlog.Set(float64(st.Backlog))
		m.catchUp.Set(st.CatchUp.Seconds())
	}
	m.runs.WithLabelValues("spread").Add(float64(st.Spread))
	m.runs.WithLabelValues("lost").Add(float64(st.Lost))
	m.runs.WithLabelValues("skipped").Add(float64(st.Skipped))
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
