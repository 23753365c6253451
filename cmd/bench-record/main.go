// Command bench-record gathers the figures the benchmark commands of one
// `make bench` run appended to a file (package benchresult) into one
// result file, bench-results/<date>-<commit>.json, with the commit, the
// date, the CPU model and the Go version; prints each figure beside the
// previous recorded result's, with REGRESSED where a ratio fell by more
// than 15 %; and writes the tables of docs/benchmarks.md from it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-record:", err)
		os.Exit(1)
	}
}
