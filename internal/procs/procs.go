// Package procs sizes the Go scheduler for processes that block in file
// system calls.
package procs

import "runtime"

// ForFileIO raises GOMAXPROCS to twice its default when the process keeps
// its records or blobs in local files (SQLite, a blob directory), unless
// the GOMAXPROCS environment variable chose a value; it returns the value
// in effect.
//
// Creating and fsyncing files, and SQLite's reads and writes, are blocking
// system calls: a goroutine in one keeps its P until it returns or the
// runtime takes the P back, so with one P a CPU, runnable goroutines wait
// while CPUs sit idle. On two cores, four Ps took the IMAP sync from 0.69
// to 0.88–0.96 × mbsync, SMTP delivery from 0.80 to 1.00 × Dovecot and the
// outbound path from 870 to 1,100 messages a second (docs/benchmarks.md).
// The default already follows a container's CPU limit; twice it stays in
// proportion.
func ForFileIO(getenv func(string) string, localFiles bool) int {
	if !localFiles || getenv("GOMAXPROCS") != "" {
		return runtime.GOMAXPROCS(0)
	}
	runtime.SetDefaultGOMAXPROCS() // twice the default, however often it is called
	n := 2 * runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n)
	return n
}
