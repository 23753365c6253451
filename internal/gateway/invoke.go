package gateway

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
)

// Headers of an invocation, as the real gateway sets them.
const (
	headerCallID    = "X-Call-Id"
	headerStartTime = "X-Start-Time"
	headerDuration  = "X-Duration-Seconds"
)

// invoke serves /function/<name>[/<rest>] with the in-process handler.
func (g *Gateway) invoke(w http.ResponseWriter, r *http.Request) {
	s, ok := g.lookup(r.PathValue("name"))
	if !ok {
		http.Error(w, "function not found", http.StatusNotFound)
		return
	}
	if !allowed(r, s.fn.Name) {
		forbid(w)
		return
	}
	name := qualified(s.fn.Name)
	start := time.Now()
	g.metrics.started.WithLabelValues(name).Inc()

	fr := r.Clone(r.Context())
	fr.URL.Path = "/" + r.PathValue("rest")
	fr.URL.RawPath = ""
	fr.RequestURI = fr.URL.RequestURI()
	callID := fr.Header.Get(headerCallID)
	if callID == "" {
		callID = rand.Text()
		fr.Header.Set(headerCallID, callID)
	}
	fr.Header.Set(headerStartTime, strconv.FormatInt(start.UnixNano(), 10))
	fr.Body = http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes)

	rw := &timedWriter{ResponseWriter: w, start: start, callID: callID}
	g.serve(s, rw, fr)
	rw.WriteHeader(http.StatusOK) // no-op when the handler wrote

	code := strconv.Itoa(rw.status)
	g.metrics.invocations.WithLabelValues(name, code).Inc()
	g.metrics.seconds.WithLabelValues(name, code).Observe(time.Since(start).Seconds())
	s.invocations.Add(1)
	g.logger.Debug("invoked", "function", name, "path", fr.URL.Path, "status", rw.status,
		"duration_s", time.Since(start).Seconds(), "call_id", callID)
}

// serve runs the function's handler; a panic becomes a 500 when nothing was
// written yet, and is logged.
func (g *Gateway) serve(s *served, w *timedWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			g.logger.Error("function panicked", "function", s.fn.Name, "err", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !w.wrote {
				http.Error(w, "function panicked", http.StatusInternalServerError)
			}
		}
	}()
	s.fn.Handler.ServeHTTP(w, r)
}

// timedWriter records the status and sets X-Duration-Seconds and X-Call-Id
// on the response, as the real gateway does.
type timedWriter struct {
	http.ResponseWriter
	start  time.Time
	callID string
	status int
	wrote  bool
}

func (w *timedWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote, w.status = true, code
	h := w.Header()
	h.Set(headerDuration, strconv.FormatFloat(time.Since(w.start).Seconds(), 'f', 6, 64))
	h.Set(headerCallID, w.callID)
	w.ResponseWriter.WriteHeader(code)
}

func (w *timedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
