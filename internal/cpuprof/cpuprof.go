// Package cpuprof writes a CPU profile for the benchmark commands.
package cpuprof

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start profiles the CPU into the file at path until the returned stop is
// called. An empty path profiles nothing and stop does nothing.
func Start(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
