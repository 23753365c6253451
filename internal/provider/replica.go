package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// replica is one process of a function. Its fields are guarded by its
// function's mutex, except the channels; its function's run alone starts
// and signals the process.
type replica struct {
	id       string
	fn       *function
	cmd      *exec.Cmd
	addr     string // host:port, from its "listening" line
	ready    bool
	stopping bool
	inflight int
	lastUsed time.Time

	listening chan string   // the address it listens on, once
	stopCh    chan struct{} // closed when the replica is to stop
	exited    chan struct{} // closed when the process has ended
	exitErr   error
	lastLine  string      // the last line of output before it listened
	listened  atomic.Bool // it said where it listens
}

// start starts the process, its output going to the function's log.
func (r *replica) start() error {
	f := r.fn
	cmd := exec.Command(f.p.cfg.Binary, f.p.cfg.Args...)
	cmd.Env = f.spec.env
	cmd.Dir = f.p.cfg.DataDir
	cmd.SysProcAttr = sysProcAttr()
	out := &lineWriter{line: func(line []byte) { r.line(line) }}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		close(r.exited)
		return fmt.Errorf("start %s: %w", f.p.cfg.Binary, err)
	}
	f.mu.Lock()
	r.cmd = cmd
	f.mu.Unlock()
	go func() {
		r.exitErr = cmd.Wait()
		out.flush()
		close(r.exited)
	}()
	return nil
}

// line handles one line of the replica's output: kept in the function's
// log, echoed, and read for the address it listens on.
func (r *replica) line(line []byte) {
	f := r.fn
	f.p.logs.append(f.name, r.id, line)
	if w := f.p.cfg.Echo; w != nil {
		_, _ = w.Write(append(slices.Clip(line), '\n'))
	}
	if !bytes.Contains(line, []byte(`"listening"`)) {
		if !r.listened.Load() {
			r.lastLine = string(line) // read once exited, after the writer's end
		}
		return
	}
	var l struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "listening" {
		return
	}
	if host, port, err := net.SplitHostPort(l.Addr); err == nil {
		// A replica bound to one address is reached there; one bound to
		// every interface, on loopback.
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		r.listened.Store(true)
		select {
		case r.listening <- net.JoinHostPort(host, port):
		default:
		}
	}
}

// errStopped ends a start that was asked to stop.
var errStopped = errors.New("stopped before it was ready")

// waitReady waits for the replica's "listening" line.
func (r *replica) waitReady(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case addr := <-r.listening:
		r.fn.mu.Lock()
		r.addr = addr
		r.fn.mu.Unlock()
		return nil
	case <-r.exited:
		return fmt.Errorf("exited before listening (%v), saying %s; faas-cli logs %s has the rest", r.exitErr, r.lastLine, r.fn.name)
	case <-r.stopCh:
		return errStopped
	case <-t.C:
		return fmt.Errorf("not listening after %s", timeout)
	}
}

// stop sends SIGTERM, then SIGKILL after grace, and waits for the end.
func (r *replica) stop(grace time.Duration) {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-r.exited:
	case <-t.C:
		r.kill()
		<-r.exited
	}
}

// kill ends the process at once.
func (r *replica) kill() {
	if r.cmd != nil {
		if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			r.fn.p.logger.Warn("kill replica", "fn", r.fn.name, "instance", r.id, "err", err)
		}
	}
}

// hasExited says whether the process has ended.
func (r *replica) hasExited() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

// exitWait bounds how long a call that failed on a replica waits to learn
// whether the replica died, so that the next calls avoid a dead one.
const exitWait = time.Second

func (r *replica) pid() int {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// lineWriter splits what a process writes into lines. Lines longer than
// maxLine are cut.
type lineWriter struct {
	line func([]byte)
	buf  []byte
}

const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > maxLine {
				w.line(w.buf[:maxLine])
				w.buf = w.buf[maxLine:]
				continue
			}
			return len(p), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
}
