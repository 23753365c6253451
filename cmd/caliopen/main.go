// Command caliopen is the command-line client of a running Caliopen
// system: it logs in, creates users and identities, lists, reads, writes
// and sends messages, watches notifications, adds remote IMAP accounts
// (all through the REST API, functions/api), sends raw orders and tails
// the dead letters (over NATS). `caliopen help` lists the commands;
// `caliopen <command> -h` explains one.
//
// Where: -url (or CALIOPEN_URL) is the gateway, default
// http://127.0.0.1:28080 (the local system's), the API being at
// <url>/function/api/api/v2 (a URL ending in /api/v2 is taken as the API
// itself). -nats (or CALIOPEN_NATS_URL, else NATS_URL) is NATS, default
// nats://127.0.0.1:24222; the NATS_* variables of the connector
// authenticate. The session token is CALIOPEN_TOKEN when set, else the one
// `caliopen login` saved (mode 0600) in <config dir>/caliopen/credentials.json,
// where <config dir> is CALIOPEN_CONFIG_DIR or the user's configuration
// directory; a saved token is only ever sent to the URL it was issued by.
//
// Output: tables for people; -json prints the API's JSON instead (one
// object per line for the commands that follow a stream). Exit status: 0
// on success (also for -h), 1 on failure, 2 on a usage error.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], env{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "caliopen:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
