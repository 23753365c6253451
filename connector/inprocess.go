package connector

import (
	"bytes"
	"fmt"
	"net/http"
	"time"

	"github.com/caliopen/functions/internal/gopool"
)

// InProcess is an http.RoundTripper that serves requests with a handler in
// the same process, without a socket. The local system uses it to reach the
// functions it hosts: the request still goes through the function's HTTP
// handler (and the local gateway), only the loopback TCP hop is skipped.
// Requests to other hosts go to Next.
type InProcess struct {
	// Host is the host[:port] served in process.
	Host string
	// Handler serves those requests.
	Handler http.Handler
	// Next carries every other request; nil means http.DefaultTransport.
	Next http.RoundTripper

	pool gopool.Pool // runs the handler on kept goroutines
}

// RoundTrip implements http.RoundTripper.
func (t *InProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.Host {
		next := t.Next
		if next == nil {
			next = http.DefaultTransport
		}
		return next.RoundTrip(req)
	}
	w := &recorder{header: http.Header{}}
	done := make(chan struct{})
	var panicked any
	t.pool.Go(func() {
		defer close(done)
		defer func() { panicked = recover() }()
		t.Handler.ServeHTTP(w, req)
	})
	select {
	case <-done:
	case <-req.Context().Done():
		// The handler may still write; leave the recorder to it.
		return nil, req.Context().Err()
	}
	if panicked != nil {
		return nil, fmt.Errorf("in-process handler panicked: %v", panicked)
	}
	body := w.body.Bytes()
	res := &http.Response{
		StatusCode:    w.status(),
		Status:        http.StatusText(w.status()),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          bodyReader{bytes.NewReader(body)},
		ContentLength: int64(len(body)),
		Request:       req,
	}
	return res, nil
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

// SetWriteDeadline has nothing to bound in process. Having it spares
// http.ResponseController the error it builds, on every call, for a
// writer without one.
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }
