#!/usr/bin/env bash
# make cluster: the production topology on one machine, as separate
# processes (cmd/caliopen-cluster says which), with its data in
# $CALIOPEN_CLUSTER_DIR (default .cluster), kept from one start to the next.
#
#   bash scripts/cluster.sh [caliopen-cluster flags]     # e.g. -base-port 0
#
# Before the cluster's own processes it starts its peers with the tests'
# scripts, their data under the same directory:
# - PostgreSQL: a private server (scripts/test-peers/postgres.sh, data in
#   DIR/postgres), never the machine's own on 5432: the chaos test restarts
#   it, and the cluster's records stay with the rest of its data;
# - S3: versitygw (scripts/test-peers/versitygw.sh, data in DIR/s3);
# - nats-server at the version go.mod requires (the embedded server's),
#   built once into ~/.cache/caliopen-nats-server/<version>/
#   (scripts/test-peers/nats-server.sh), unless CALIOPEN_NATS_SERVER names it;
# - the OpenFaaS CE gateway pinned in tools/ (built once into
#   ~/.cache/caliopen-tools by scripts/test-peers/openfaas.sh, unless
#   CALIOPEN_TEST_OPENFAAS_GATEWAY names it already), which caliopen-cluster
#   runs in front of its provider, and the Prometheus it queries (Debian's,
#   which openfaas.sh installs; CALIOPEN_TEST_PROMETHEUS).
# Ctrl-C (or SIGTERM) stops the cluster, then its peers; their data stays.
# Set CALIOPEN_CLUSTER_NO_BUILD=1 when bin/ already holds the binaries.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export GOTOOLCHAIN=local
DATA=${CALIOPEN_CLUSTER_DIR:-$ROOT/.cluster}
BIN=${CALIOPEN_CLUSTER_BIN:-$ROOT/bin}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
say() { echo "cluster: $*" >&2; }

NATS_BIN=${CALIOPEN_NATS_SERVER:-}
if [ -z "$NATS_BIN" ]; then
  vars=$(bash scripts/test-peers/nats-server.sh) && eval "$vars"
  NATS_BIN=$CALIOPEN_NATS_SERVER
fi
if [ ! -x "${CALIOPEN_TEST_OPENFAAS_GATEWAY:-}" ] || [ ! -x "${CALIOPEN_TEST_PROMETHEUS:-}" ]; then
  vars=$(bash scripts/test-peers/openfaas.sh) && eval "$vars"
fi
if [ -z "${CALIOPEN_CLUSTER_NO_BUILD:-}" ]; then
  say "building the binaries into $BIN"
  nice -n 10 go build -o "$BIN/" ./cmd/caliopen-cluster ./cmd/connector ./cmd/function ./cmd/smtp-listener ./cmd/scheduler
fi

PG_PID= S3_PID= CHILD=
cleanup() {
  [ -z "$CHILD" ] || { kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; }
  [ -z "$S3_PID" ] || bash scripts/test-peers/stop.sh "$S3_PID"
  # The postmaster's pid changes when the chaos test restarts it.
  if [ -s "$DATA/postgres/data/postmaster.pid" ]; then
    bash scripts/test-peers/stop.sh "$(head -1 "$DATA/postgres/data/postmaster.pid")"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# PGPORT=1: no server answers there, so postgres.sh starts the private one.
vars=$(PGPORT=1 bash scripts/test-peers/postgres.sh "$DATA/postgres") && eval "$vars"
PG_PID=$CALIOPEN_TEST_POSTGRES_PID
vars=$(bash scripts/test-peers/versitygw.sh "$DATA/s3") && eval "$vars"
S3_PID=$CALIOPEN_TEST_S3_PID
{
  echo "export CALIOPEN_CLUSTER_POSTGRES_DIR=$DATA/postgres"
  echo "export CALIOPEN_CLUSTER_POSTGRES_PID=$PG_PID"
  echo "export CALIOPEN_CLUSTER_S3_PID=$S3_PID"
} >"$DATA/peers.env"

CALIOPEN_CLUSTER_STORE_DSN=$CALIOPEN_TEST_POSTGRES_URL \
  CALIOPEN_CLUSTER_S3_ENDPOINT=$CALIOPEN_TEST_S3_ENDPOINT \
  CALIOPEN_CLUSTER_S3_ACCESS_KEY=$CALIOPEN_TEST_S3_ACCESS_KEY \
  CALIOPEN_CLUSTER_S3_SECRET_KEY=$CALIOPEN_TEST_S3_SECRET_KEY \
  "$BIN/caliopen-cluster" -data "$DATA" -root "$ROOT" -bin "$BIN" -nats-server "$NATS_BIN" \
  -openfaas-gateway "$CALIOPEN_TEST_OPENFAAS_GATEWAY" -prometheus "$CALIOPEN_TEST_PROMETHEUS" "$@" &
CHILD=$!
wait "$CHILD"
