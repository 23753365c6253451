// Command function is the entrypoint of one function's image: it serves the
// function named by FUNCTION over HTTP on port 8082, behind of-watchdog in
// http mode, until SIGTERM or SIGINT.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "function:", err)
		os.Exit(1)
	}
}
