#!/usr/bin/env bash
# Builds the OpenFaaS tools the provider's system tests run, at the versions
# pinned in tools/go.mod, and makes sure Debian's Prometheus is installed,
# then prints where they are as shell export lines:
#
#   vars=$(bash scripts/test-peers/openfaas.sh) && eval "$vars"   # then: go test ./systest/providersys
#
# Nothing is started here: each test starts the OpenFaaS CE gateway in front
# of its own provider, on free ports, with a Prometheus scraping it.
#
# faas-cli is built from the tools module (`go build github.com/openfaas/faas-cli`:
# the proxy lists no versions of it, so `go install pkg@version` refuses it).
# The gateway is built inside a copy of its own module tree, with one change:
# it listens on 127.0.0.1 at the ports CALIOPEN_GATEWAY_PORT and
# CALIOPEN_GATEWAY_METRICS_PORT instead of every interface's 8080 and 8082
# (hard-coded in its main.go), so that it never takes a port the machine
# uses. Both are built once into CALIOPEN_TOOLS_CACHE (default
# ~/.cache/caliopen-tools), named by their versions. Progress goes to
# stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
TOOLS=$(cd "$HERE/../../tools" && pwd)
CACHE=${CALIOPEN_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-tools}
cache_lock "$CACHE"
export GOTOOLCHAIN=local GOFLAGS=

# The version tools/go.mod requires (read from the file: go list -m asks the
# proxy for the version's .info, which it refuses for faas-cli).
version() { awk -v m="$1" '$1 == m { print $2; exit }' "$TOOLS/go.mod"; }

CLI_VERSION=$(version github.com/openfaas/faas-cli)
CLI="$CACHE/faas-cli-$CLI_VERSION"
if [ ! -x "$CLI" ]; then
  log "building faas-cli $CLI_VERSION into $CACHE (go build, a few minutes cold)"
  (cd "$TOOLS" && nice -n 10 go build -o "$CLI.tmp" github.com/openfaas/faas-cli) >&2
  mv "$CLI.tmp" "$CLI"
fi

# The patch's revision is in the name: a change to it builds anew.
GW_VERSION=$(version github.com/openfaas/faas/gateway)
GW="$CACHE/openfaas-gateway-$GW_VERSION-loopback1"
if [ ! -x "$GW" ]; then
  log "building the OpenFaaS gateway $GW_VERSION into $CACHE (go build, a few minutes cold)"
  SRC=$(cd "$TOOLS" && go mod download -json github.com/openfaas/faas/gateway |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$SRC" ] || { log "gateway $GW_VERSION: module source not found"; exit 1; }
  # The module cache is read-only: build a copy, patched.
  rm -rf "$CACHE/gateway-src" && cp -r "$SRC" "$CACHE/gateway-src" && chmod -R u+w "$CACHE/gateway-src"
  main="$CACHE/gateway-src/main.go"
  sed -i -e 's/^\ttcpPort := 8080$/\ttcpPort := loopbackPort("CALIOPEN_GATEWAY_PORT", 8080)/' \
    -e 's/^\tport := 8082$/\tport := loopbackPort("CALIOPEN_GATEWAY_METRICS_PORT", 8082)/' \
    -e 's/Addr:           fmt.Sprintf(":%d", /Addr:           fmt.Sprintf("127.0.0.1:%d", /' "$main"
  [ "$(grep -c 'loopbackPort("CALIOPEN_GATEWAY' "$main")" = 2 ] && [ "$(grep -c '"127.0.0.1:%d"' "$main")" = 2 ] ||
    { log "gateway $GW_VERSION: main.go no longer has the lines patched here"; exit 1; }
  cat >"$CACHE/gateway-src/loopback_port.go" <<'GO'
package main

import (
	"os"
	"strconv"
)

// loopbackPort is the port the variable name gives, else def.
func loopbackPort(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}
GO
  (cd "$CACHE/gateway-src" && nice -n 10 go build -o "$GW.tmp" .) >&2
  mv "$GW.tmp" "$GW"
fi

cache_unlock

[ -x /usr/bin/prometheus ] || apt_install prometheus
[ -x /usr/bin/prometheus ] || { log "prometheus is missing"; exit 1; }

log "faas-cli $CLI_VERSION, gateway $GW_VERSION, $(/usr/bin/prometheus --version 2>&1 | head -1)"
echo "export CALIOPEN_TEST_FAAS_CLI=$CLI"
echo "export CALIOPEN_TEST_OPENFAAS_GATEWAY=$GW"
echo "export CALIOPEN_TEST_PROMETHEUS=/usr/bin/prometheus"
