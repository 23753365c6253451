// Command smtp-listener is the always-on pod that receives mail for local
// identities over SMTP (and LMTP) and hands each recipient to inbound-email
// (see package smtplistener). Configuration comes from the environment.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "smtp-listener:", err)
		os.Exit(1)
	}
}
