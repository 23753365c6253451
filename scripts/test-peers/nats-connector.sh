#!/usr/bin/env bash
# Builds the OpenFaaS nats-connector (0.3.0, kept in tools/nats-connector:
# the module proxy refuses its module) that `make bench` measures the
# connector beside, and prints where it is as a shell export line:
#
#   vars=$(bash scripts/test-peers/nats-connector.sh) && eval "$vars"   # then: go run ./cmd/bench
#
# Nothing is started here: cmd/bench starts it against its own NATS server.
# It is built from a copy with one change: the NATS port, always 4222 in the
# original, is read from CALIOPEN_NATS_PORT. Built once into
# CALIOPEN_TOOLS_CACHE (default ~/.cache/caliopen-tools), named by its
# version and the patch's revision. Progress goes to stderr; stdout is only
# the export line.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
SRC=$(cd "$HERE/../../tools/nats-connector" && pwd)
CACHE=${CALIOPEN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-tools}
mkdir -p "$CACHE"
export GOTOOLCHAIN=local GOFLAGS=

BIN="$CACHE/nats-connector-0.3.0-port1"
if [ ! -x "$BIN" ]; then
  log "building the OpenFaaS nats-connector 0.3.0 into $CACHE (go build, a minute cold)"
  rm -rf "$CACHE/nats-connector-src" && cp -r "$SRC" "$CACHE/nats-connector-src" && chmod -R u+w "$CACHE/nats-connector-src"
  broker="$CACHE/nats-connector-src/nats/broker.go"
  sed -i 's/^const NATSPort = "4222"$/var NATSPort = natsPort()/' "$broker"
  grep -q '^var NATSPort = natsPort()$' "$broker" ||
    { log "nats-connector: nats/broker.go no longer has the line patched here"; exit 1; }
  cat >"$CACHE/nats-connector-src/nats/port.go" <<'GO'
package nats

import "os"

// natsPort is the port CALIOPEN_NATS_PORT gives, else 4222.
func natsPort() string {
	if p := os.Getenv("CALIOPEN_NATS_PORT"); p != "" {
		return p
	}
	return "4222"
}
GO
  (cd "$CACHE/nats-connector-src" && nice -n 10 go build -o "$BIN.tmp" .) >&2
  mv "$BIN.tmp" "$BIN"
fi
log "OpenFaaS nats-connector 0.3.0 at $BIN"
echo "export CALIOPEN_TEST_NATS_CONNECTOR=$BIN"
