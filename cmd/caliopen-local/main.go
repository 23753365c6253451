// Command caliopen-local runs the whole system in one process on embedded
// defaults: NATS with JetStream, an OpenFaaS-compatible gateway serving every
// function, and the connector in gateway mode pointed at it. Ctrl-C stops it
// cleanly.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "caliopen-local:", err)
		os.Exit(1)
	}
}
