package gopool

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goid is the id of the calling goroutine, from its stack header.
func goid() uint64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	buf = bytes.TrimPrefix(buf, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(buf[:bytes.IndexByte(buf, ' ')]), 10, 64)
	return id
}

// run runs one function on p and returns the goroutine it ran on.
func run(p *Pool) uint64 {
	got := make(chan uint64)
	p.Go(func() { got <- goid() })
	return <-got
}

func TestSequentialCallsReuseGoroutines(t *testing.T) {
	p := &Pool{IdleTimeout: time.Minute}
	defer p.Close()
	seen := map[uint64]bool{}
	for range 200 {
		seen[run(p)] = true
		time.Sleep(time.Millisecond) // let the worker go idle
	}
	// One goroutine, or a few when a call came before the last went idle;
	// without reuse there would be 200.
	if len(seen) > 3 {
		t.Errorf("200 calls one after another ran on %d goroutines", len(seen))
	}
}

func TestGoNeverWaits(t *testing.T) {
	p := &Pool{}
	defer p.Close()
	const n = 50
	release := make(chan struct{})
	ids := make(chan uint64, n)
	var started sync.WaitGroup
	started.Add(n)
	for range n {
		p.Go(func() {
			ids <- goid()
			started.Done()
			<-release
		})
	}
	started.Wait() // all n run at once: none waited for another
	close(release)
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != n {
		t.Errorf("%d functions ran at once on %d goroutines", n, len(seen))
	}
}

func TestIdleGoroutineEnds(t *testing.T) {
	p := &Pool{IdleTimeout: 10 * time.Millisecond}
	defer p.Close()
	first := run(p)
	time.Sleep(100 * time.Millisecond)
	if id := run(p); id == first {
		t.Errorf("goroutine %d still ran after its idle timeout", id)
	}
}

func TestCloseEndsIdleGoroutines(t *testing.T) {
	p := &Pool{IdleTimeout: time.Hour}
	first := run(p)
	p.Close()
	time.Sleep(20 * time.Millisecond)
	if id := run(p); id == first { // still runs after Close, on a new goroutine
		t.Errorf("goroutine %d still ran after Close", id)
	}
}

func ExamplePool() {
	p := &Pool{}
	defer p.Close()
	done := make(chan string)
	p.Go(func() { done <- "ran" })
	fmt.Println(<-done)
	// Output: ran
}
