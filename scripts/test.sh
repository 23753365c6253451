#!/usr/bin/env bash
# Runs every test, on a fresh machine too: starts the servers the tests need
# (PostgreSQL, an S3 server), runs `go test -race ./...`, stops what it started.
# NATS needs nothing: the tests embed it. Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do bash scripts/test-peers/stop.sh "$pid"; done
}
trap cleanup EXIT

# vars=$(...) && eval: a failing script stops here (eval "$(...)" would not).
vars=$(bash scripts/test-peers/postgres.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_POSTGRES_PID:-}")
vars=$(bash scripts/test-peers/versitygw.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_S3_PID:-}")

go test -race -count=1 "$@" ./...
