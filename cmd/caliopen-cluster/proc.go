package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// restartDelay is how long a process that died waits before it is started
// again: Kubernetes starts at 10 s and backs off; a short delay keeps a
// fault's cost to the process's own start. A process that dies within
// crashWindow of its start waits twice as long each time, up to
// maxRestartDelay, as a crash loop would.
const (
	restartDelay    = 200 * time.Millisecond
	crashWindow     = 10 * time.Second
	maxRestartDelay = 10 * time.Second
)

// proc is one supervised process: started, probed until ready, started
// again whenever it exits until the supervisor stops.
type proc struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Function string            `json:"function,omitempty"`
	Addrs    map[string]string `json:"addrs"`
	PID      int               `json:"pid"`
	Starts   int               `json:"starts"`
	Ready    bool              `json:"ready"`

	bin   string
	args  []string
	env   []string
	probe func(ctx context.Context) error // nil: ready once started
	log   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	onState func() // called after a change of PID or Ready
}

// snapshot copies the exported state under the lock.
func (p *proc) snapshot() proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	return proc{Name: p.Name, Kind: p.Kind, Function: p.Function, Addrs: p.Addrs, PID: p.PID, Starts: p.Starts, Ready: p.Ready}
}

// supervise runs p until ctx ends, then stops it with SIGTERM (SIGKILL
// after grace). ready is closed the first time p is ready.
func (p *proc) supervise(ctx context.Context, logger *slog.Logger, grace time.Duration, ready chan<- struct{}) {
	once := sync.Once{}
	delay := restartDelay
	for ctx.Err() == nil {
		started := time.Now()
		done, err := p.start()
		if err != nil {
			logger.Error("start", "proc", p.Name, "err", err)
		} else {
			pctx, pcancel := context.WithCancel(ctx)
			go func() {
				if p.probe != nil {
					if err := waitReady(pctx, p.probe); err != nil {
						return
					}
				}
				p.set(func() {
					if pctx.Err() == nil {
						p.Ready = true
					}
				})
				once.Do(func() { close(ready) })
			}()
			select {
			case err := <-done:
				pcancel()
				p.set(func() { p.Ready = false; p.PID = 0 })
				logger.Warn("process exited, starting it again", "proc", p.Name, "err", errString(err))
			case <-ctx.Done():
				pcancel()
				p.stop(grace, done)
				return
			}
		}
		if time.Since(started) < crashWindow {
			delay = min(2*delay, maxRestartDelay)
		} else {
			delay = restartDelay
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *proc) set(f func()) {
	p.mu.Lock()
	f()
	cb := p.onState
	p.mu.Unlock()
	if cb != nil {
		cb()
	}
}

// start starts the process; done receives its Wait's error.
func (p *proc) start() (<-chan error, error) {
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = filepath.Dir(p.log)
	// Its own process group: a Ctrl-C on the terminal reaches the
	// supervisor alone, which stops the parts in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p.set(func() { p.cmd = cmd; p.PID = cmd.Process.Pid; p.Starts++ })
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		out.Close()
		done <- err
	}()
	return done, nil
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration, done <-chan error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
	p.set(func() { p.Ready = false; p.PID = 0 })
}

// waitReady probes until the probe succeeds or ctx ends.
func waitReady(ctx context.Context, probe func(context.Context) error) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := probe(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tcpProbe is ready when addr accepts a connection.
func tcpProbe(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// httpProbe is ready when url answers 200.
func httpProbe(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}
