// Command bench-inbound measures end-to-end inbound mail throughput: Postfix's
// smtp-source delivering into the SMTP listener (accepted and processed by
// inbound-email through the connector), beside the same load into Dovecot's
// LMTP delivery and into Postfix's smtp-sink (the accept-only ceiling), in
// one run, and prints the rates with their ratios.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-inbound:", err)
		os.Exit(1)
	}
}
