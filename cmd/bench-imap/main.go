// Command bench-imap measures a full sync of a remote IMAP account: a
// private Dovecot holding N messages (default 2,000 × 4 KB) is drained by
// imap-fetch (fetched, stored, and processed by the real inbound-email
// behind the real connector, on SQLite in a temporary directory), and by
// isync's mbsync with FSync on and off, in one run; it prints the rates and
// the ratios against mbsync. Any step that fails stops the run with an
// error; imap-fetch's row is only printed when the store holds every
// message.
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
		fmt.Fprintln(os.Stderr, "bench-imap:", err)
		os.Exit(1)
	}
}
