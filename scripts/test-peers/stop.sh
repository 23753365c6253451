#!/usr/bin/env bash
# Stops one server started by a script of this folder, by its pid: SIGTERM,
# then waits up to STOP_TIMEOUT seconds (default 20) before SIGKILL; then
# removes DIR, the directory the start script made for it (its *_DIR
# variable), when given, and the PostgreSQL database that DIR/.dropdb names
# ("PORT NAME", written by a start script that made one). An empty or dead
# pid is not an error.
#   usage: stop.sh PID [DIR]
set -uo pipefail
PID=${1:-}
DIR=${2:-}
T=${STOP_TIMEOUT:-20}
stop() {
  [ -n "$PID" ] || return 0
  kill -0 "$PID" 2>/dev/null || return 0
  kill -TERM "$PID"
  for _ in $(seq 1 $((T * 10))); do
    kill -0 "$PID" 2>/dev/null || return 0
    # A zombie (its parent does not reap it) has stopped.
    [ "$(ps -o stat= -p "$PID" 2>/dev/null | cut -c1)" = Z ] && return 0
    sleep 0.1
  done
  echo "test-peers: pid $PID still alive after ${T}s, sending SIGKILL" >&2
  kill -KILL "$PID" 2>/dev/null
}
stop
if [ -n "$DIR" ] && [ -s "$DIR/.dropdb" ]; then
  read -r port db <"$DIR/.dropdb"
  dropdb --if-exists -h 127.0.0.1 -p "$port" -U postgres "$db" >&2 || true
fi
[ -z "$DIR" ] || rm -rf "$DIR"
exit 0
