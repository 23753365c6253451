#!/usr/bin/env bash
# Runs every test, on a fresh machine too: installs and starts the servers the
# tests need (PostgreSQL, an S3 server, Postfix's smtp-sink and a private
# Postfix relay, Dovecot IMAP, GnuPG with nsd and sks, Debian's nats-server 2.9
# for the connector's oldest supported server, Jaeger for the traces, GoToSocial
# for the Mastodon bridge; swaks and smtp-source as clients), runs
# `go test -race ./...`, stops what it started.
# NATS otherwise needs nothing: the tests embed it. Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

# The peers started here, as pid and directory pairs: stopped, their
# directories (data, dumps, mail) removed.
PEERS=()
cleanup() {
  for ((i = 0; i < ${#PEERS[@]}; i += 2)); do
    bash scripts/test-peers/stop.sh "${PEERS[i]}" "${PEERS[i + 1]}"
  done
}
trap cleanup EXIT

# vars=$(...) && eval: a failing script stops here (eval "$(...)" would not).
vars=$(bash scripts/test-peers/postgres.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_POSTGRES_PID:-}" "${CALIOPEN_TEST_POSTGRES_DIR:-}")
vars=$(bash scripts/test-peers/versitygw.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_S3_PID:-}" "${CALIOPEN_TEST_S3_DIR:-}")
vars=$(bash scripts/test-peers/postfix-tools.sh) && eval "$vars"
vars=$(bash scripts/test-peers/doc-tools.sh) && eval "$vars"
vars=$(bash scripts/test-peers/smtp-sink.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_SMTP_SINK_PID:-}" "${CALIOPEN_TEST_SMTP_SINK_DIR:-}")
vars=$(bash scripts/test-peers/postfix-relay.sh "" "$CALIOPEN_TEST_SMTP_SINK_ADDR") && eval "$vars"
PEERS+=("${CALIOPEN_TEST_POSTFIX_RELAY_PID:-}" "${CALIOPEN_TEST_POSTFIX_RELAY_DIR:-}")
vars=$(bash scripts/test-peers/keyservers.sh) && eval "$vars"
vars=$(bash scripts/test-peers/dovecot-imap.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_DOVECOT_IMAP_PID:-}" "${CALIOPEN_TEST_DOVECOT_IMAP_DIR:-}")
vars=$(bash scripts/test-peers/nats29.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_NATS29_PID:-}" "${CALIOPEN_TEST_NATS29_DIR:-}")
vars=$(bash scripts/test-peers/jaeger.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_JAEGER_PID:-}" "${CALIOPEN_TEST_JAEGER_DIR:-}")
vars=$(bash scripts/test-peers/gotosocial.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_GOTOSOCIAL_PID:-}" "${CALIOPEN_TEST_GOTOSOCIAL_DIR:-}")
vars=$(CALIOPEN_GOTOSOCIAL_NAME=LIMITED CALIOPEN_GOTOSOCIAL_RATE_LIMIT=30 bash scripts/test-peers/gotosocial.sh) && eval "$vars"
PEERS+=("${CALIOPEN_TEST_GOTOSOCIAL_LIMITED_PID:-}" "${CALIOPEN_TEST_GOTOSOCIAL_LIMITED_DIR:-}")
vars=$(bash scripts/test-peers/image-bases.sh) && eval "$vars"
# faas-cli, the OpenFaaS CE gateway (built once, pinned in tools/go.mod) and
# Prometheus: nothing started, each provider test starts its own.
vars=$(bash scripts/test-peers/openfaas.sh) && eval "$vars"

# The tests' output as go test prints it, then each package's time, slowest
# first (cmd/test-timing reads go test -json); the exit code stays go test's.
timing=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-test-timing.XXXXXX")
PEERS+=("" "$timing")
go build -o "$timing/" ./cmd/test-timing
verbose=
[[ " $* " != *" -v "* ]] || verbose=-v
# The packages whose logs are the proof of the real tools (the podman build
# and the order its image answered, each faas-cli verb's own output, the
# chaos test's faults, the hostile cases' counts) are printed whole.
m=github.com/caliopen/functions/systest
show=$m/imagebuild,$m/providersys,$m/chaos,$m/hostile
go test -race -count=1 -timeout=40m -json "$@" ./... | "$timing/test-timing" $verbose -show "$show"
