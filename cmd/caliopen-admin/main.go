// Command caliopen-admin manages accounts on the store directly:
//
//	printf '%s\n' "$PASSWORD" | caliopen-admin create-user -name bob [-admin] [-recovery bob@example.org]
//
// See run for the flags and the environment.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "caliopen-admin:", err)
		os.Exit(1)
	}
}
