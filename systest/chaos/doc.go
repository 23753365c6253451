// Package chaos runs the cluster of `make cluster` (scripts/cluster.sh,
// cmd/caliopen-cluster: three NATS servers, two connectors, listeners and
// schedulers, function replicas, PostgreSQL, versitygw) under a steady
// load and kills its parts one at a time, checking that nothing acked is
// lost or doubled and measuring how long each fault costs.
package chaos
