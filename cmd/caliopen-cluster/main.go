// Command caliopen-cluster runs the production topology on one machine, as
// separate processes, from the manifests themselves: three NATS servers
// with JetStream (the nats.conf of infra/k8s/base/nats.yaml, its users
// and their permissions, plus TLS towards the clients), two connectors,
// two SMTP listeners and two schedulers with the environment of their
// Deployments, and the functions as OpenFaaS runs them: the OpenFaaS CE
// gateway in front of the project's provider (package provider), to which
// every entry of stack.yml is deployed through the gateway, its replicas
// processes of cmd/function. Only endpoints (addresses, ports) and the
// secrets' files change: they point at this machine and at the data
// directory. PostgreSQL and the S3 server are started beforehand by
// scripts/cluster.sh, which passes their addresses in the environment.
//
// It supervises what it starts as Kubernetes would: a process that dies is
// started again (a function's replica, by the provider). It writes where each part listens and each process's pid
// to state.json in the data directory (the chaos test reads it), prints a
// summary, and stops everything on SIGINT or SIGTERM. A second start
// reuses the data directory: the NATS servers' streams, the secrets, the
// certificates and the admin user.
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
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "caliopen-cluster:", err)
		os.Exit(1)
	}
}
