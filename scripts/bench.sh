#!/usr/bin/env bash
# Runs every benchmark in one go: the connector and pub/sub figures, the store
# on SQLite and on PostgreSQL (started when none answers), the contract's
# micro-benchmark, inbound and outbound mail, key discovery beside GnuPG,
# tracing's cost with a local Jaeger.
# Extra arguments go to cmd/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
vars=$(bash scripts/test-peers/postgres.sh) && eval "$vars"
trap 'bash scripts/test-peers/stop.sh "${CALIOPEN_TEST_POSTGRES_PID:-}" "${CALIOPEN_TEST_POSTGRES_DIR:-}"
      bash scripts/test-peers/stop.sh "${CALIOPEN_TEST_JAEGER_PID:-}" "${CALIOPEN_TEST_JAEGER_DIR:-}"' EXIT
# A local Jaeger: cmd/bench runs request/reply with tracing off and on,
# alternately, and prints the cost per request of tracing on.
vars=$(bash scripts/test-peers/jaeger.sh) && eval "$vars"
go run ./cmd/bench -postgres "$CALIOPEN_TEST_POSTGRES_URL" "$@"
go test -run='^$' -bench=. -benchmem ./internal/contract/
# Inbound: smtp-source into the SMTP listener (stored and processed), beside
# Dovecot's LMTP delivery and smtp-sink; outbound: the whole send path
# beside smtp-source into smtp-sink. Both start their own peers.
go run ./cmd/bench-inbound
go run ./cmd/bench-outbound -n 1000 -c 32
# The scheduler: 100,000 identities on SQLite, steady polling and a restart.
go run ./cmd/bench-scheduler
# IMAP: a full sync of 2,000 × 4 KB from Dovecot through imap-fetch and
# inbound-email, beside mbsync with FSync on and off.
imap=$(go run ./cmd/bench-imap | tee /dev/stderr)
# A function's cold start (process start to first reply), beside a bare
# process start and exit; then every function's in the local system's
# process mode (zero replicas to the first reply), against 50 ms.
go run ./cmd/bench-coldstart
# Key discovery: discover_key for 1,000 contacts against nsd, sks and a WKD
# server, beside GnuPG locating the same addresses one after another.
vars=$(bash scripts/test-peers/keyservers.sh) && eval "$vars"
go test -run='^$' -bench=DiscoverVsGnuPG -benchtime=1x ./functions/key-action/
# X direct messages: 10,000 events through twitter-dm, the connector and
# inbound-twitter, beside the IMAP path's CPU a message just measured (the
# median of its rounds) and the X API's documented request budget.
imap_ms=$(printf '%s\n' "$imap" | grep -o '[0-9.]* ms of CPU each' | awk '{print $1}' | sort -n |
  awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print 0}')
go run ./cmd/bench-twitter -imap-cpu-ms "$imap_ms"
# The cluster of `make cluster` (separate processes: 3 NATS servers over TLS, 2 listeners, 2
# connectors, function replicas, PostgreSQL, versitygw) beside the one-process local system:
# inbound mail a second into each, measured in this run (systest/chaos).
go test -run='^$' -bench=InboundClusterVsLocal -benchtime=1x ./systest/chaos/
