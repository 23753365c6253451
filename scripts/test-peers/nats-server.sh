#!/usr/bin/env bash
# Builds nats-server at the version go.mod requires (the embedded server's),
# once, into a cache directory (CALIOPEN_NATS_SERVER_CACHE, default
# ~/.cache/caliopen-nats-server/<version>/), for scripts/cluster.sh and so
# for the chaos test, and prints where it is as a shell export line:
#
#   vars=$(bash scripts/test-peers/nats-server.sh) && eval "$vars"
#
# Nothing is started. Progress goes to stderr; stdout is only the export line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
cd "$HERE/../.."
export GOTOOLCHAIN=local
VERSION=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
CACHE=${CALIOPEN_NATS_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-nats-server}
BIN="$CACHE/$VERSION/nats-server"
cache_lock "$CACHE"
if [ ! -x "$BIN" ]; then
  log "building nats-server $VERSION (once, into $(dirname "$BIN"))"
  mkdir -p "$(dirname "$BIN")"
  nice -n 10 go build -o "$BIN.tmp" github.com/nats-io/nats-server/v2 >&2
  mv "$BIN.tmp" "$BIN"
fi
cache_unlock
log "nats-server $VERSION ready"
echo "export CALIOPEN_NATS_SERVER=$BIN"
