// Package procs sizes the Go scheduler for processes that block in file
// system calls, and the garbage collector of the process that runs the
// whole system.
package procs

import (
	"runtime"
	"runtime/debug"
)

// ForFileIO raises GOMAXPROCS to twice its default when the process keeps
// its records or blobs in local files (SQLite, a blob directory), unless
// the GOMAXPROCS environment variable chose a value; it returns the value
// in effect.
//
// Creating and fsyncing files, and SQLite's reads and writes, are blocking
// system calls: a goroutine in one keeps its P until it returns or the
// runtime takes the P back, so with one P a CPU, runnable goroutines wait
// while CPUs sit idle. Twice as many Ps keep the CPUs busy on the mail
// paths (docs/benchmarks.md, "GOMAXPROCS for file I/O"). The default
// already follows a container's CPU limit; twice it stays in proportion.
func ForFileIO(getenv func(string) string, localFiles bool) int {
	if !localFiles || getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.SetDefaultGOMAXPROCS() // twice the default, however often it is called
	n := 2 * runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n)
	return n
}

// LocalGCPercent is the garbage collector's target (GOGC) of a process
// that runs the whole system: the local system, and the benchmarks that
// measure paths as it runs them.
const LocalGCPercent = 200

// ForWholeSystem sets the garbage collector's target to LocalGCPercent,
// unless the GOGC environment variable chose a value; it returns the value
// in effect.
//
// Every function, NATS, the connector and the store share one heap there,
// and mail is read, parsed and written in buffers that die young, so at
// Go's default of 100 the collector runs often over a small live heap; a
// higher target trades a little resident memory for less CPU a message
// (docs/benchmarks.md, "GOGC of the local system").
func ForWholeSystem(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(LocalGCPercent)
	return LocalGCPercent
}
