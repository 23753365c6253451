#!/usr/bin/env bash
# Runs every test, on a fresh machine too: installs and starts the servers the
# tests need (PostgreSQL, an S3 server, Postfix's smtp-sink and a private
# Postfix relay, Dovecot IMAP; swaks and smtp-source as clients), runs
# `go test -race ./...`, stops what it started.
# NATS needs nothing: the tests embed it. Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do bash scripts/test-peers/stop.sh "$pid"; done
  # The directories the peer scripts made (data, dumps, mail).
  for dir in "${CALIOPEN_TEST_POSTGRES_DIR:-}" "${CALIOPEN_TEST_S3_DIR:-}" "${CALIOPEN_TEST_SMTP_SINK_DIR:-}" \
    "${CALIOPEN_TEST_POSTFIX_RELAY_DIR:-}" "${CALIOPEN_TEST_DOVECOT_IMAP_DIR:-}"; do
    [ -n "$dir" ] && rm -rf "$dir"
  done
  return 0
}
trap cleanup EXIT

# vars=$(...) && eval: a failing script stops here (eval "$(...)" would not).
vars=$(bash scripts/test-peers/postgres.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_POSTGRES_PID:-}")
vars=$(bash scripts/test-peers/versitygw.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_S3_PID:-}")
vars=$(bash scripts/test-peers/postfix-tools.sh) && eval "$vars"
vars=$(bash scripts/test-peers/smtp-sink.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_SMTP_SINK_PID:-}")
vars=$(bash scripts/test-peers/postfix-relay.sh "" "$CALIOPEN_TEST_SMTP_SINK_ADDR") && eval "$vars"
PIDS+=("${CALIOPEN_TEST_POSTFIX_RELAY_PID:-}")
vars=$(bash scripts/test-peers/dovecot-imap.sh) && eval "$vars"
PIDS+=("${CALIOPEN_TEST_DOVECOT_IMAP_PID:-}")

go test -race -count=1 "$@" ./...
