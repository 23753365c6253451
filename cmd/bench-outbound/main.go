// Command bench-outbound measures outbound mail throughput through the
// whole path (REST API over HTTP → NATS → connector → smtp-deliver → SMTP)
// beside smtp-source → smtp-sink directly (the ceiling), in one run on one
// machine, and prints both rates and their ratio.
//
//	go run ./cmd/bench-outbound -n 1000 -c 16
//
// It starts Postfix's smtp-sink with scripts/test-peers/smtp-sink.sh
// unless -sink names one, and sends through -relay (default: straight to
// the sink). Everything else runs in process (package systemtest); the
// connector reaches smtp-deliver through its HTTP handler without a socket,
// as the local system reaches its functions (-http: over loopback TCP).
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
		fmt.Fprintln(os.Stderr, "bench-outbound:", err)
		os.Exit(1)
	}
}
