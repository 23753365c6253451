// Command caliopen-admin manages accounts on the store directly:
//
//	caliopen-admin create-user -name bob [-admin] [-recovery bob@example.org] [-data DIR]
//
// It asks for the password on the terminal (without echo), or reads the
// first line of standard input when that is not a terminal.
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
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "caliopen-admin:", err)
		os.Exit(1)
	}
}
