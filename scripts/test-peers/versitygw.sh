#!/usr/bin/env bash
# Starts a throwaway S3 server for the tests: versitygw (Apache-2.0) with its
# POSIX backend in a temporary directory, on a free loopback port, and
# prints the variables the tests read, as shell export lines:
#
#   eval "$(bash scripts/test-peers/versitygw.sh)"     # then: go test ./internal/blob/...
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_S3_PID" "$CALIOPEN_TEST_S3_DIR"
#
# usage: versitygw.sh [DIR]      (default: a new mktemp -d directory)
# Installs versitygw with `go install` when it is not on PATH or in GOPATH/bin
# (about a minute on 2 cores). Progress goes to stderr; stdout is only the
# export lines. Set CALIOPEN_VERSITYGW_PORT to force a port.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

VERSION=v1.8.0
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-s3.XXXXXX")}
mkdir -p "$DIR/data"
DIR=$(cd "$DIR" && pwd)

BIN=$(command -v versitygw || true)
if [ -z "$BIN" ]; then
  BIN="$(GOTOOLCHAIN=local go env GOPATH)/bin/versitygw"
fi
if [ ! -x "$BIN" ]; then
  log "installing versitygw $VERSION (go install, about a minute)"
  GOTOOLCHAIN=local GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
fi
[ -x "$BIN" ] || { log "versitygw not found at $BIN after install"; exit 1; }

ACCESS=caliopen-test
SECRET=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
BUCKET=caliopen-test

for attempt in 1 2 3; do
  PORT=${CALIOPEN_VERSITYGW_PORT:-$(free_port 20000 29999)}
  # --keep-alive: without it versitygw closes the connection after each request.
  # All three standard streams are redirected so that $(...) does not wait for it.
  ROOT_ACCESS_KEY_ID=$ACCESS ROOT_SECRET_ACCESS_KEY=$SECRET nohup "$BIN" \
    --port "127.0.0.1:$PORT" --region us-east-1 --keep-alive --quiet \
    posix "$DIR/data" </dev/null >"$DIR/versitygw.log" 2>&1 &
  PID=$!
  if wait_port "$PORT" "$PID" 15; then
    break
  fi
  log "versitygw did not start on port $PORT (attempt $attempt):"
  tail -5 "$DIR/versitygw.log" >&2 || true
  kill "$PID" 2>/dev/null || true
  PID=
  [ -n "${CALIOPEN_VERSITYGW_PORT:-}" ] && break
done
[ -n "${PID:-}" ] || { log "giving up on versitygw"; exit 1; }
echo "$PID" >"$DIR/versitygw.pid"
log "versitygw pid $PID on 127.0.0.1:$PORT, data in $DIR/data, log $DIR/versitygw.log"

cat <<VARS
export CALIOPEN_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT
export CALIOPEN_TEST_S3_ACCESS_KEY=$ACCESS
export CALIOPEN_TEST_S3_SECRET_KEY=$SECRET
export CALIOPEN_TEST_S3_BUCKET=$BUCKET
export CALIOPEN_TEST_S3_PID=$PID
export CALIOPEN_TEST_S3_DIR=$DIR
VARS
