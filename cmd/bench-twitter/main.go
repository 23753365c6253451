// Command bench-twitter measures a full import of an X account's direct
// messages: the in-process X API server (internal/xapitest) holds N events
// (default 10,000) of one-to-one and group conversations; twitter-dm's
// sync pages them and requests process_inbound for each through the real
// connector (embedded NATS) from the real inbound-twitter, on SQLite and a
// blob directory in a temporary directory, as the local system runs them.
// It prints the time, the CPU per direct message (the process's, which
// includes the X API server's own: an upper bound) beside the IMAP path's
// per-message CPU (cmd/bench-imap's figure read from -figures in the same
// make bench run, which fails without it; -imap-cpu-ms by hand), and the
// requests made against the budget the reference
// documents (300 direct message lookups per 15 minutes per user). The
// figure is only printed when the store holds every message.
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
		fmt.Fprintln(os.Stderr, "bench-twitter:", err)
		os.Exit(1)
	}
}
