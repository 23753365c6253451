// Package gopool runs functions on goroutines kept for the next call. A
// goroutine that ran SQLite or a MIME parser has grown its stack several
// times over; the next function it runs starts on that stack instead of
// growing a fresh goroutine's from its start size (a copy each doubling).
//
// A Pool never makes a caller wait: with no idle goroutine, Go starts a
// new one. A goroutine left idle for IdleTimeout ends.
package gopool

import (
	"sync"
	"time"
)

// DefaultIdleTimeout is how long an idle goroutine waits for work.
const DefaultIdleTimeout = 10 * time.Second

// Pool runs functions on reused goroutines. The zero Pool is ready to use,
// with DefaultIdleTimeout; Close ends its idle goroutines.
type Pool struct {
	// IdleTimeout ends a goroutine that waited this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	once   sync.Once
	work   chan func()
	closed chan struct{}
	stop   sync.Once
}

func (p *Pool) init() {
	p.once.Do(func() {
		p.work = make(chan func())
		p.closed = make(chan struct{})
	})
}

// Go runs fn on an idle goroutine of the pool, or on a new one. fn must
// recover its own panics, as with a go statement.
func (p *Pool) Go(fn func()) {
	p.init()
	select {
	case p.work <- fn:
	default:
		go p.worker(fn)
	}
}

// Close ends the idle goroutines; functions running finish, and their
// goroutines end then. Go after Close still runs fn, each on a new
// goroutine.
func (p *Pool) Close() {
	p.init()
	p.stop.Do(func() { close(p.closed) })
}

func (p *Pool) worker(fn func()) {
	idle := p.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	t := time.NewTimer(idle)
	defer t.Stop()
	for {
		fn()
		t.Reset(idle)
		select {
		case fn = <-p.work:
		case <-t.C:
			return
		case <-p.closed:
			return
		}
	}
}
