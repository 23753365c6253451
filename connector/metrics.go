package connector

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the connector's Prometheus series. They are registered on an
// explicit registry, never the global one.
type Metrics struct {
	messages         *prometheus.CounterVec   // subject, kind (request|event), outcome
	invocations      *prometheus.CounterVec   // function, code
	invokeSeconds    *prometheus.HistogramVec // function
	inflight         *prometheus.GaugeVec     // function
	replies          *prometheus.CounterVec   // subject, result (ok|error)
	deadLetters      *prometheus.CounterVec   // subject, reason
	redeliveries     *prometheus.CounterVec   // subject
	handoffs         *prometheus.CounterVec   // subject, result
	mapFunctions     prometheus.Gauge
	mapLastSuccess   prometheus.Gauge
	mapRefreshErrors prometheus.Counter
	reconnects       prometheus.Counter
	stalls           *prometheus.CounterVec // subject
	stalled          *prometheus.GaugeVec   // subject
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns = "caliopen_connector"
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_total",
			Help: "NATS messages handled, by subject, kind (request or event) and outcome."},
			[]string{"subject", "kind", "outcome"}),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "invocations_total",
			Help: "Function invocations by function and HTTP status code (0: no answer)."},
			[]string{"function", "code"}),
		invokeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "invoke_seconds",
			Help:    "Duration of function invocations.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}},
			[]string{"function"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "inflight",
			Help: "Invocations in flight per function."}, []string{"function"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "replies_total",
			Help: "Replies sent to NATS requesters, by subject and result."}, []string{"subject", "result"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dead_letters_total",
			Help: "Orders moved to the dead-letter subject, by subject and reason."}, []string{"subject", "reason"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "redeliveries_total",
			Help: "Orders handed back to JetStream for a later attempt."}, []string{"subject"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "handoffs_total",
			Help: "Published orders on request/reply subjects moved into the stream."}, []string{"subject", "result"}),
		mapFunctions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "topic_map_functions",
			Help: "Functions in the current topic map."}),
		mapLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "topic_map_last_success_timestamp_seconds",
			Help: "When the topic map was last loaded."}),
		mapRefreshErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "topic_map_refresh_errors_total",
			Help: "Failed topic map refreshes (the last good map stays in force)."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "nats_reconnects_total",
			Help: "Reconnections to NATS."}),
		stalls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "consumer_stalls_total",
			Help: "Times a consumer received nothing for STALL_AFTER while JetStream held events for it, by subject; each restarted its pull."},
			[]string{"subject"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "consumer_stalled",
			Help: "1 when the last check found the subject's consumer stalled (events pending, none received)."},
			[]string{"subject"}),
	}
	reg.MustRegister(m.messages, m.invocations, m.invokeSeconds, m.inflight, m.replies, m.deadLetters,
		m.redeliveries, m.handoffs, m.mapFunctions, m.mapLastSuccess, m.mapRefreshErrors, m.reconnects)
	reg.MustRegister(m.stalls, m.stalled)
	return m
}
