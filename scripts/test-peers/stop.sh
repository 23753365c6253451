#!/usr/bin/env bash
# Stops one server started by a script of this folder, by its pid: SIGTERM,
# then waits up to TIMEOUT seconds (default 20) before SIGKILL. An empty or
# dead pid is not an error.
#   usage: stop.sh PID [TIMEOUT]
set -uo pipefail
PID=${1:-}
T=${2:-20}
[ -n "$PID" ] || exit 0
kill -0 "$PID" 2>/dev/null || exit 0
kill -TERM "$PID"
for _ in $(seq 1 $((T * 10))); do
  kill -0 "$PID" 2>/dev/null || exit 0
  # A zombie (its parent does not reap it) has stopped.
  [ "$(ps -o stat= -p "$PID" 2>/dev/null | cut -c1)" = Z ] && exit 0
  sleep 0.1
done
echo "test-peers: pid $PID still alive after ${T}s, sending SIGKILL" >&2
kill -KILL "$PID" 2>/dev/null
exit 0
