#!/usr/bin/env bash
# Starts a throwaway Jaeger (v2, Apache-2.0) for the tracing tests: traces
# kept in memory, an OTLP/HTTP receiver and the query API on free loopback
# ports, and prints the variables the tests read, as shell export lines:
#
#   vars=$(bash scripts/test-peers/jaeger.sh) && eval "$vars"   # then: go test ./systest/tracing
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_JAEGER_PID" "$CALIOPEN_TEST_JAEGER_DIR"
#
# usage: jaeger.sh [DIR]      (default: a new mktemp -d directory)
# Builds github.com/jaegertracing/jaeger/cmd/jaeger once into a cache
# directory (CALIOPEN_JAEGER_CACHE, default ~/.cache/caliopen-jaeger): its
# module has replace directives, so `go install pkg@version` refuses it and
# the module's own source is built. The first build takes a quarter of an
# hour on 2 cores. Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

VERSION=v1.75.0
CACHE=${CALIOPEN_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-jaeger}
BIN="$CACHE/jaeger-$VERSION"
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-jaeger.XXXXXX")}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

cache_lock "$CACHE"
if [ ! -x "$BIN" ]; then
  log "building jaeger $VERSION into $CACHE (go build, about a quarter of an hour)"
  mkdir -p "$CACHE"
  SRC=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json "github.com/jaegertracing/jaeger@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$SRC" ] || { log "jaeger $VERSION: module source not found"; exit 1; }
  # The module cache is read-only: build a copy, so go may write go.sum.
  rm -rf "$CACHE/src" && cp -r "$SRC" "$CACHE/src" && chmod -R u+w "$CACHE/src"
  (cd "$CACHE/src" && GOTOOLCHAIN=local GOFLAGS= go build -o "$BIN.tmp" ./cmd/jaeger) >&2
  mv "$BIN.tmp" "$BIN"
fi
cache_unlock

for attempt in 1 2 3; do
  OTLP=$(free_port 30000 34999)
  QUERY=$(free_port 35000 39999)
  GRPC=$(free_port 40000 44999)
  # Only what the tests use: memory storage, OTLP over HTTP in, the query
  # API out; no metrics port.
  cat >"$DIR/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$QUERY
    grpc:
      endpoint: 127.0.0.1:$GRPC
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$OTLP
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
  # All three standard streams are redirected so that $(...) does not wait for it.
  nohup "$BIN" --config "$DIR/config.yaml" </dev/null >"$DIR/jaeger.log" 2>&1 &
  PID=$!
  if wait_port "$QUERY" "$PID" 30 && wait_port "$OTLP" "$PID" 10; then
    break
  fi
  log "jaeger did not start (attempt $attempt):"
  tail -5 "$DIR/jaeger.log" >&2 || true
  kill "$PID" 2>/dev/null || true
  PID=
done
[ -n "${PID:-}" ] || { log "giving up on jaeger"; exit 1; }
echo "$PID" >"$DIR/jaeger.pid"
log "jaeger pid $PID: OTLP http://127.0.0.1:$OTLP, query http://127.0.0.1:$QUERY, log $DIR/jaeger.log"

cat <<VARS
export CALIOPEN_TEST_JAEGER_OTLP=http://127.0.0.1:$OTLP
export CALIOPEN_TEST_JAEGER_QUERY=http://127.0.0.1:$QUERY
export CALIOPEN_TEST_JAEGER_PID=$PID
export CALIOPEN_TEST_JAEGER_DIR=$DIR
VARS
