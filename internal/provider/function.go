package provider

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openfaas/faas-provider/types"
)

// Errors of an invocation that found no replica.
var (
	errNotDeployed = errors.New("function is not deployed")
	errNoReplica   = errors.New("no replica became ready in time")
)

// function is one deployment and its replicas.
type function struct {
	p       *Provider
	name    string
	dep     types.FunctionDeployment
	spec    spec
	created time.Time
	calls   *atomic.Uint64 // invocations, kept across redeployments

	mu       sync.Mutex
	replicas []*replica // starting or ready; a stopping replica is no longer here
	changed  chan struct{}
	waiting  int // invocations waiting for a free replica
	seq      int
	removed  bool
	// startErr is why the last replica failed to start, and failedAt when:
	// an invocation soon after gets it at once instead of starting another.
	startErr error
	failedAt time.Time
	failures int // failed starts in a row
}

func newFunction(p *Provider, d types.FunctionDeployment, s spec, created time.Time, calls *atomic.Uint64) *function {
	return &function{p: p, name: d.Service, dep: d, spec: s, created: created, calls: calls, changed: make(chan struct{})}
}

// notifyLocked wakes every waiter; f.mu is held.
func (f *function) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
	if !f.removed {
		f.p.metrics.replicas.WithLabelValues(qualified(f.name)).Set(float64(len(f.replicas)))
	}
}

// After a failed start, invocations get that failure instead of starting
// another replica for a while: a second, doubling with each failure in a
// row up to a minute, so that a function that cannot start (a missing
// setting) is not restarted in a loop.
const (
	startBackoff    = time.Second
	maxStartBackoff = time.Minute
)

// backingOff says whether a failed start is recent enough to be given
// instead of a new start; f.mu is held.
func (f *function) backingOff() bool {
	if f.startErr == nil {
		return false
	}
	wait := startBackoff << min(f.failures-1, 6)
	return time.Since(f.failedAt) < min(wait, maxStartBackoff)
}

// acquire returns a ready replica with a free slot, holding one; the
// caller releases it. It starts replicas as the load needs, and waits up to
// ctx's end.
func (f *function) acquire(ctx context.Context) (*replica, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.removed {
			return nil, errNotDeployed
		}
		var best *replica
		starting := 0
		for _, r := range f.replicas {
			switch {
			case !r.ready:
				starting++
			case r.hasExited():
				// Dead, and not yet replaced: run is about to.
			case r.inflight < f.spec.inflight && (best == nil || r.inflight < best.inflight):
				best = r
			}
		}
		if best != nil {
			best.inflight++
			return best, nil
		}
		if len(f.replicas) == 0 && f.backingOff() {
			return nil, f.startErr
		}
		// Start a replica when the ones starting cannot take every waiting
		// call.
		if len(f.replicas) < f.spec.max && f.waiting+1 > starting*f.spec.inflight {
			f.startLocked()
		}
		ch := f.changed
		f.waiting++
		f.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		f.waiting--
		if err != nil {
			if f.backingOff() {
				return nil, fmt.Errorf("%w: %w", errNoReplica, f.startErr)
			}
			return nil, fmt.Errorf("%w: %w", errNoReplica, err)
		}
	}
}

// release gives back the slot acquire held.
func (f *function) release(r *replica) {
	f.mu.Lock()
	r.inflight--
	r.lastUsed = time.Now()
	f.notifyLocked()
	f.mu.Unlock()
}

// startLocked adds a starting replica; f.mu is held.
func (f *function) startLocked() {
	f.seq++
	r := &replica{id: f.name + "-" + strconv.Itoa(f.seq), fn: f, exited: make(chan struct{}), stopCh: make(chan struct{}),
		listening: make(chan string, 1), lastUsed: time.Now()}
	f.replicas = append(f.replicas, r)
	f.notifyLocked()
	f.p.wg.Add(1)
	go func() {
		defer f.p.wg.Done()
		f.run(r)
	}()
}

// run owns a replica's process: it starts it, marks it ready once it
// listens, stops it when asked (stopLocked), and handles its end: a ready
// replica that ends on its own is replaced.
func (f *function) run(r *replica) {
	start := time.Now()
	err := r.start()
	if err == nil {
		err = r.waitReady(f.p.cfg.StartTimeout)
	}
	f.mu.Lock()
	stopping := r.stopping
	if err == nil && !stopping {
		r.ready = true
		d := time.Since(start)
		f.p.metrics.coldStarts.WithLabelValues(qualified(f.name)).Inc()
		f.p.metrics.coldStartSeconds.WithLabelValues(qualified(f.name)).Observe(d.Seconds())
		f.p.logger.Info("replica ready", "fn", f.name, "instance", r.id, "pid", r.pid(), "addr", r.addr, "cold_start_s", d.Seconds())
		f.startErr, f.failures = nil, 0
		f.notifyLocked()
	}
	f.mu.Unlock()
	switch {
	case err != nil && !stopping:
		f.p.logger.Error("replica failed to start", "fn", f.name, "instance", r.id, "err", err)
		r.kill()
	case err != nil:
		r.kill() // stopped before it was ready
	default:
		select {
		case <-r.exited:
		case <-r.stopCh:
			r.stop(f.p.cfg.StopGrace)
		}
	}
	<-r.exited
	f.mu.Lock()
	defer f.mu.Unlock()
	wasReady := r.ready
	r.ready = false
	f.drop(r)
	switch {
	case r.stopping:
	case err != nil:
		f.startErr, f.failedAt = fmt.Errorf("function %s failed to start: %w", f.name, err), time.Now()
		f.failures++
	default:
		f.p.metrics.deaths.WithLabelValues(qualified(f.name)).Inc()
		f.p.logger.Error("replica died", "fn", f.name, "instance", r.id, "err", r.exitErr, "in_flight", r.inflight)
		if wasReady && !f.removed && !f.p.isClosing() {
			f.startLocked()
		}
	}
	f.notifyLocked()
}

// drop removes r from the replicas; f.mu is held.
func (f *function) drop(r *replica) {
	f.replicas = slices.DeleteFunc(f.replicas, func(x *replica) bool { return x == r })
}

// stopLocked takes r out of service and stops it: SIGTERM lets its calls
// finish, SIGKILL follows after the stop grace. f.mu is held.
func (f *function) stopLocked(r *replica, why string) {
	if r.stopping {
		return
	}
	r.stopping = true
	close(r.stopCh)
	f.drop(r)
	f.notifyLocked()
	f.p.logger.Info("replica stopping", "fn", f.name, "instance", r.id, "reason", why, "in_flight", r.inflight)
}

// reapIdle stops replicas idle for the idle time, down to the minimum.
func (f *function) reapIdle(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.replicas) > f.spec.min {
		var idlest *replica
		for _, r := range f.replicas {
			if r.ready && r.inflight == 0 && now.Sub(r.lastUsed) >= f.spec.idle && (idlest == nil || r.lastUsed.Before(idlest.lastUsed)) {
				idlest = r
			}
		}
		if idlest == nil || f.waiting > 0 {
			return
		}
		f.stopLocked(idlest, "idle")
	}
}

// ensureMin starts replicas up to the minimum.
func (f *function) ensureMin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed || f.p.isClosing() || f.backingOff() {
		return
	}
	for len(f.replicas) < f.spec.min {
		f.startLocked()
	}
}

// scale starts or stops replicas to reach n, within the minimum and maximum;
// the least loaded stop first.
func (f *function) scale(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n = min(max(n, f.spec.min), f.spec.max)
	for len(f.replicas) < n {
		f.startLocked()
	}
	for len(f.replicas) > n {
		least := f.replicas[0]
		for _, r := range f.replicas {
			if r.inflight < least.inflight || !r.ready {
				least = r
			}
		}
		f.stopLocked(least, "scaled")
	}
}

// remove stops every replica and refuses further invocations.
func (f *function) remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = true
	for _, r := range slices.Clone(f.replicas) {
		f.stopLocked(r, "removed")
	}
	f.notifyLocked()
}

func (f *function) status() types.FunctionStatus {
	f.mu.Lock()
	replicas, ready := len(f.replicas), 0
	for _, r := range f.replicas {
		if r.ready {
			ready++
		}
	}
	f.mu.Unlock()
	d := f.dep
	st := types.FunctionStatus{
		Name: d.Service, Image: d.Image, Namespace: Namespace, EnvProcess: d.EnvProcess,
		EnvVars: maps.Clone(f.spec.shown), Constraints: d.Constraints, Secrets: d.Secrets,
		Labels: d.Labels, Annotations: d.Annotations, Limits: d.Limits, Requests: d.Requests,
		ReadOnlyRootFilesystem: d.ReadOnlyRootFilesystem,
		Replicas:               uint64(replicas), AvailableReplicas: uint64(ready), CreatedAt: f.created,
		InvocationCount: float64(f.calls.Load()),
	}
	return st
}

func (f *function) instances() []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Instance, 0, len(f.replicas))
	for _, r := range f.replicas {
		out = append(out, Instance{ID: r.id, PID: r.pid(), Addr: r.addr, Ready: r.ready, InFlight: r.inflight})
	}
	return out
}

func (p *Provider) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// statusOf maps an acquire error to the proxy's answer.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errNotDeployed):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusServiceUnavailable
	}
}
