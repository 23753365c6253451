#!/usr/bin/env bash
# Runs every benchmark in one go: the connector and pub/sub figures, the store
# on SQLite and on PostgreSQL (started when none answers), the contract's
# micro-benchmark, inbound and outbound mail, key discovery beside GnuPG,
# tracing's cost with a local Jaeger.
# Every command appends its figures (each with its baseline from this run and
# their ratio) to one file; at the end cmd/bench-record writes them, with the
# commit, date, CPU model and Go version, to bench-results/<date>-<commit>.json,
# prints each ratio beside the last recorded run's (REGRESSED where it fell by
# more than 15 %) and writes docs/benchmarks.md's tables from it.
#
#   make bench                          everything
#   make bench PROFILE=dir              and a CPU profile per path in dir
#   make bench ONLY="bench imap"        only those paths (a partial result)
#
# Paths: bench (request/reply, pub/sub, tracing, store), contract, inbound,
# outbound, scheduler, imap, coldstart, keys, twitter (needs imap), cluster.
# Extra arguments go to cmd/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
ALL="bench contract inbound outbound scheduler imap coldstart keys twitter cluster"
ONLY=${ONLY:-$ALL}
PROFILE=${PROFILE:-}
FIGURES=$(mktemp "${TMPDIR:-/tmp}/caliopen-bench-figures.XXXXXX")
if [ -n "$PROFILE" ]; then
  mkdir -p "$PROFILE"
  PROFILE=$(cd "$PROFILE" && pwd)
fi

# wants PATH: whether PATH is to run.
wants() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# profile PATH: the flag that writes PATH's CPU profile, when PROFILE is set.
profile() { [ -z "$PROFILE" ] || echo "-cpuprofile=$PROFILE/$1.pprof"; }
# start SCRIPT: starts a peer (stop_all stops it when the run ends).
start() {
  local vars
  vars=$(bash "scripts/test-peers/$1") && eval "$vars"
}
stop_all() {
  bash scripts/test-peers/stop.sh "${CALIOPEN_TEST_POSTGRES_PID:-}" "${CALIOPEN_TEST_POSTGRES_DIR:-}"
  bash scripts/test-peers/stop.sh "${CALIOPEN_TEST_JAEGER_PID:-}" "${CALIOPEN_TEST_JAEGER_DIR:-}"
  rm -f "$FIGURES"
}
trap stop_all EXIT

if wants bench; then
  start postgres.sh
  # A local Jaeger: cmd/bench runs request/reply with tracing off and on,
  # alternately, and prints the cost per request of tracing on.
  start jaeger.sh
  # The OpenFaaS nats-connector is compared only when CALIOPEN_TEST_NATS_CONNECTOR
  # names a binary of it (cmd/bench -nats-connector): the module proxy refuses
  # its module, and its code is not ours to keep here.
  go run ./cmd/bench -postgres "$CALIOPEN_TEST_POSTGRES_URL" -figures "$FIGURES" $(profile bench) "$@"
fi
if wants contract; then
  # No baseline: printed, not recorded.
  go test -run='^$' -bench=. -benchmem $(profile contract) ./internal/contract/
fi
# Inbound: smtp-source into the SMTP listener (stored and processed), beside
# Dovecot's LMTP delivery and smtp-sink; outbound: the whole send path
# beside smtp-source into smtp-sink. Both start their own peers.
if wants inbound; then go run ./cmd/bench-inbound -figures "$FIGURES" $(profile inbound); fi
if wants outbound; then go run ./cmd/bench-outbound -n 1000 -c 32 -figures "$FIGURES" $(profile outbound); fi
# The scheduler: 100,000 identities on SQLite, steady polling and a restart.
if wants scheduler; then go run ./cmd/bench-scheduler -figures "$FIGURES" $(profile scheduler); fi
# IMAP: a full sync of 2,000 × 4 KB from Dovecot through imap-fetch and
# inbound-email, beside mbsync with FSync on and off.
if wants imap; then go run ./cmd/bench-imap -figures "$FIGURES" $(profile imap); fi
# A function's cold start (process start to first reply), beside a bare
# process start and exit; then every function's in the local system's
# process mode (zero replicas to the first reply), against 50 ms. Its time
# is spent in the started processes: no profile.
if wants coldstart; then go run ./cmd/bench-coldstart -figures "$FIGURES"; fi
# Key discovery: discover_key against nsd, sks and a WKD server, beside
# GnuPG locating the same addresses, at the same concurrency on both sides.
if wants keys; then
  start keyservers.sh
  CALIOPEN_BENCH_FIGURES=$FIGURES go test -run='^$' -bench=DiscoverVsGnuPG -benchtime=200x -timeout=30m \
    $(profile keys) ./functions/key-action/
fi
# X direct messages: 10,000 events through twitter-dm, the connector and
# inbound-twitter, beside the IMAP path's CPU a message just measured, read
# from the figures (the run fails without it) and the X API's documented
# request budget.
if wants twitter; then go run ./cmd/bench-twitter -figures "$FIGURES" $(profile twitter); fi
# The cluster of `make cluster` (separate processes: 3 NATS servers over TLS, 2 listeners, 2
# connectors, function replicas, PostgreSQL, versitygw) beside the one-process local system:
# inbound mail a second into each, measured in this run (systest/chaos).
if wants cluster; then
  CALIOPEN_BENCH_FIGURES=$FIGURES go test -run='^$' -bench=InboundClusterVsLocal -benchtime=1x -timeout=30m ./systest/chaos/
fi

partial=()
[ "$ONLY" = "$ALL" ] || partial=(-partial -note "Only these paths ran: $ONLY.")
go run ./cmd/bench-record -figures "$FIGURES" "${partial[@]}"
