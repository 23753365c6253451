package connector

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler serves /metrics from gatherer, /healthz (the process runs) and
// /readyz (connected to NATS, topic map loaded, consuming).
func (c *Connector) AdminHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case c.Ready():
			w.Write([]byte("ready\n"))
		case c.nc == nil || !c.nc.IsConnected():
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
		case !c.router.Synced():
			http.Error(w, "topic map not loaded", http.StatusServiceUnavailable)
		default:
			http.Error(w, "not consuming (starting or draining)", http.StatusServiceUnavailable)
		}
	})
	return mux
}
