#!/usr/bin/env bash
# Runs every benchmark in one go: the connector and pub/sub figures, the store
# on SQLite and on PostgreSQL (started when none answers), and the contract's
# micro-benchmark. Extra arguments go to cmd/bench.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
vars=$(bash scripts/test-peers/postgres.sh) && eval "$vars"
trap 'bash scripts/test-peers/stop.sh "${CALIOPEN_TEST_POSTGRES_PID:-}"' EXIT
go run ./cmd/bench -postgres "$CALIOPEN_TEST_POSTGRES_URL" "$@"
go test -run='^$' -bench=. -benchmem ./internal/contract/
