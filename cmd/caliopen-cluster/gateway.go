package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBody bounds a request the gateway holds to send it again to another
// replica: above the listener's largest message (SMTP_MAX_MESSAGE_BYTES,
// 20 MiB) with its JSON escaping.
const maxBody = 64 << 20

// gateway stands in for what routes a call to one of a function's
// replicas on a cluster (the OpenFaaS gateway, a Knative Service, kube-
// proxy): /function/<name>/<path> goes to a ready replica of <name>, in
// turn, with the prefix stripped as OpenFaaS does. A replica that is not
// ready (stopped, starting) takes no call, as an endpoint leaves a Service
// when its pod stops; a call whose connection is refused goes to the next
// replica (nothing of it was sent). It is a hand-written stand-in because
// neither of those routers runs without Kubernetes or OpenFaaS's own
// provider; the calls it carries are the connector's real ones.
type gateway struct {
	replicas map[string][]*proc
	next     atomic.Uint64
	client   *http.Client
	logger   *slog.Logger
}

func newGateway(replicas map[string][]*proc, logger *slog.Logger) *gateway {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.DialContext = (&net.Dialer{Timeout: 2 * time.Second}).DialContext
	return &gateway{replicas: replicas, client: &http.Client{Transport: t}, logger: logger}
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/function/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	name, path, _ := strings.Cut(rest, "/")
	reps := g.replicas[name]
	if len(reps) == 0 {
		http.Error(w, "no function "+name, http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "read the request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	start := g.next.Add(1)
	var lastErr error
	for wait := 0; ; wait++ {
		for i := range reps {
			p := reps[(int(start)+i)%len(reps)]
			addr := p.Addrs["http"]
			if !p.isReady() {
				continue
			}
			resp, err := g.send(r, addr, path, body)
			if err != nil {
				lastErr = err
				if refused(err) {
					continue
				}
				http.Error(w, "function "+name+": "+err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		// No replica ready: wait a little for one, within the call's context.
		select {
		case <-r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		if wait > 50 {
			msg := "no replica of " + name + " is ready"
			if lastErr != nil {
				msg += ": " + lastErr.Error()
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
	}
}

func (g *gateway) send(r *http.Request, addr, path string, body []byte) (*http.Response, error) {
	u := "http://" + addr + "/" + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = r.Header.Clone()
	out.Header.Del("Connection")
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", host)
	}
	return g.client.Do(out)
}

// refused says the connection was never made: the call can go elsewhere.
func refused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, context.Canceled)
}
