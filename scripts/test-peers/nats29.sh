#!/usr/bin/env bash
# Starts Debian's nats-server (2.9.x in Debian 12, the oldest server the
# connector supports) with JetStream on a free loopback port and its own
# store directory, and prints the variables the tests read, as shell export
# lines:
#
#   vars=$(bash scripts/test-peers/nats29.sh) && eval "$vars"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_NATS29_PID" "$CALIOPEN_TEST_NATS29_DIR"
#
# usage: nats29.sh [DIR]   (default: a new mktemp -d directory)
# Installs the nats-server package with apt-get when it is missing. A server
# already on 4222 is left alone: this one listens elsewhere.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
[ -x /usr/sbin/nats-server ] || apt_install nats-server
[ -x /usr/sbin/nats-server ] || { log "nats-server is missing"; exit 1; }
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-nats29.XXXXXX")}
mkdir -p "$DIR/store"
DIR=$(cd "$DIR" && pwd)
PORT=$(free_port 14222 14321)
nohup /usr/sbin/nats-server -a 127.0.0.1 -p "$PORT" -js -sd "$DIR/store" -l "$DIR/nats-server.log" \
  >/dev/null 2>&1 &
PID=$!
wait_port "$PORT" "$PID" 10 || { log "nats-server did not start:"; cat "$DIR/nats-server.log" >&2; exit 1; }
log "started $(/usr/sbin/nats-server --version) pid $PID on 127.0.0.1:$PORT, store in $DIR/store"
echo "export CALIOPEN_TEST_NATS29_URL=nats://127.0.0.1:$PORT"
echo "export CALIOPEN_TEST_NATS29_DIR=$DIR"
echo "export CALIOPEN_TEST_NATS29_PID=$PID"
# The binary itself, for tests that start it with a configuration of their own.
echo "export CALIOPEN_TEST_NATS29_BIN=/usr/sbin/nats-server"
