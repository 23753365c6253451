package main

import (
	"fmt"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/caliopen/functions/internal/cpuprof"
)

// cost is what the process spent: CPU time (user and system) and heap
// allocations. Unlike a rate, it does not move with what other processes
// do on the machine, so it is the figure to compare changes by.
type cost struct {
	cpu    time.Duration
	allocs float64
}

// allocsMetric counts the heap allocations since the process started; read
// without stopping the world.
const allocsMetric = "/gc/heap/allocs:objects"

// measureCost is the process's cost so far.
func measureCost() cost {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	var allocs float64
	if s[0].Value.Kind() == metrics.KindUint64 {
		allocs = float64(s[0].Value.Uint64())
	}
	return cost{cpu: cpuprof.Used(), allocs: allocs}
}

// since is the cost spent after before.
func (c cost) since(before cost) cost {
	return cost{cpu: c.cpu - before.cpu, allocs: c.allocs - before.allocs}
}

// per is the cost of one of n operations.
func (c cost) per(n int) cost {
	if n <= 0 {
		return cost{}
	}
	return cost{cpu: c.cpu / time.Duration(n), allocs: c.allocs / float64(n)}
}

// add is the cost of both.
func (c cost) add(o cost) cost { return cost{cpu: c.cpu + o.cpu, allocs: c.allocs + o.allocs} }

// micros is the CPU time in microseconds.
func (c cost) micros() float64 { return float64(c.cpu) / float64(time.Microsecond) }

func (c cost) String() string { return fmt.Sprintf("%.1f µs CPU, %.0f allocs", c.micros(), c.allocs) }

// writeAllocs writes the allocation profile to path ("" writes none).
func writeAllocs(path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: allocation profile:", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "bench: allocation profile:", err)
	}
}
