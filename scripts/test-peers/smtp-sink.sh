#!/usr/bin/env bash
# Starts Postfix's smtp-sink on a free loopback port, dumping every message
# into DIR/dump (one file per transaction: smtp-sink's X-Mail-Args and
# X-Rcpt-Args headers carry the envelope), and prints the variables the
# tests read, as shell export lines:
#
#   vars=$(bash scripts/test-peers/smtp-sink.sh) && eval "$vars"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_SMTP_SINK_PID" "$CALIOPEN_TEST_SMTP_SINK_DIR"
#
# usage: smtp-sink.sh [DIR]   (default: a new mktemp -d directory)
# Installs postfix with apt-get when smtp-sink is missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
bash "$HERE/postfix-tools.sh" >/dev/null # installs postfix when missing
[ -x /usr/sbin/smtp-sink ] || { log "smtp-sink is missing"; exit 1; }
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-sink.XXXXXX")}
mkdir -p "$DIR/dump"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR"
AS=()
if [ "$(id -u)" = 0 ]; then
  AS=(-u nobody) # smtp-sink refuses to keep root privileges
  chown nobody "$DIR/dump"
fi
PORT=$(free_port 12525 12624)
# -c counters, -m concurrent sessions, backlog 1024; -d dumps each message.
nohup /usr/sbin/smtp-sink "${AS[@]}" -c -m 1000 -d "$DIR/dump/%H%M%S." "127.0.0.1:$PORT" 1024 \
  >"$DIR/smtp-sink.log" 2>&1 &
PID=$!
wait_port "$PORT" "$PID" 10 || { log "smtp-sink did not start:"; cat "$DIR/smtp-sink.log" >&2; exit 1; }
log "started smtp-sink pid $PID on 127.0.0.1:$PORT, dumps in $DIR/dump"
echo "export CALIOPEN_TEST_SMTP_SINK_ADDR=127.0.0.1:$PORT"
echo "export CALIOPEN_TEST_SMTP_SINK_DIR=$DIR"
echo "export CALIOPEN_TEST_SMTP_SINK_DUMP=$DIR/dump"
echo "export CALIOPEN_TEST_SMTP_SINK_PID=$PID"
