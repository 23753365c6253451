// Command bench-scheduler measures the scheduler with many remote
// identities on SQLite in a temporary directory: the CPU time and memory
// of fifteen simulated minutes of steady polling, and of the restart after
// an hour down, and prints the figures. `make bench` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scheduler:", err)
		os.Exit(1)
	}
}
