#!/usr/bin/env bash
# Starts a throwaway GoToSocial (AGPL-3.0, an ActivityPub server that
# implements Mastodon's client API) for the Mastodon bridge's tests: HTTP on
# a free loopback port, its own database on the PostgreSQL of
# scripts/test-peers/postgres.sh (127.0.0.1:${PGPORT:-5432}, user postgres;
# v0.17.3's WASM SQLite driver panics at its first open here, "wasm error:
# out of bounds memory access"), its media in its own directory, two local accounts
# (alice and bob) made with its admin command, each with an OAuth 2.0 access
# token (scopes read write) obtained as a user would, through the
# authorization-code flow and its sign-in form. Prints the variables the
# tests read, as shell export lines:
#
#   vars=$(bash scripts/test-peers/gotosocial.sh) && eval "$vars"   # then: go test ./functions/mastodon-dm
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_GOTOSOCIAL_PID" "$CALIOPEN_TEST_GOTOSOCIAL_DIR"
#
# usage: gotosocial.sh [DIR]      (default: a new mktemp -d directory)
# CALIOPEN_GOTOSOCIAL_RATE_LIMIT sets its rate limit (requests per client
# address per 5 minutes, default 100000: the X-RateLimit-* headers are sent,
# the limit is not reached). CALIOPEN_GOTOSOCIAL_NAME=X names the variables
# CALIOPEN_TEST_GOTOSOCIAL_X_*: scripts/test.sh starts a second instance,
# LIMITED, with a limit of 30, for the test that is refused with 429.
#
# Builds github.com/superseriousbusiness/gotosocial/cmd/gotosocial once into
# a cache directory (CALIOPEN_GOTOSOCIAL_CACHE, default
# ~/.cache/caliopen-gotosocial): its module has a replace directive, so
# `go install pkg@version` refuses it and the module's own source is built
# (its vendor directory is not in the module zip: -mod=mod). The first
# build takes 12 to 30 minutes on 2 cores. The module's web/template
# directory, which its sign-in pages and its e-mail sender need, is kept
# beside the binary. Progress goes to stderr; stdout is only the export
# lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

VERSION=v0.17.3
CACHE=${CALIOPEN_GOTOSOCIAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/caliopen-gotosocial}
BIN="$CACHE/gotosocial-$VERSION"
SRC="$CACHE/src-$VERSION"
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-gotosocial.XXXXXX")}
RATE=${CALIOPEN_GOTOSOCIAL_RATE_LIMIT:-100000}
V=CALIOPEN_TEST_GOTOSOCIAL${CALIOPEN_GOTOSOCIAL_NAME:+_$CALIOPEN_GOTOSOCIAL_NAME}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

command -v curl >/dev/null || apt_install curl ca-certificates

if [ ! -x "$BIN" ] || [ ! -d "$SRC/web/template" ]; then
  log "building gotosocial $VERSION into $CACHE (go build, 12 to 30 minutes)"
  mkdir -p "$CACHE"
  MOD=$(GOTOOLCHAIN=local GOFLAGS= go mod download -json "github.com/superseriousbusiness/gotosocial@$VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$MOD" ] || { log "gotosocial $VERSION: module source not found"; exit 1; }
  # The module cache is read-only: build a copy, so go may write go.sum.
  rm -rf "$SRC" && cp -r "$MOD" "$SRC" && chmod -R u+w "$SRC" && rm -rf "$SRC/vendor"
  # Its own build script's tags, without tracing and metrics (shorter).
  (cd "$SRC" && GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath \
    -tags "netgo osusergo kvformat timetzdata notracing nometrics" \
    -ldflags "-s -w -X main.Version=$VERSION" -o "$BIN.tmp" ./cmd/gotosocial) >&2
  mv "$BIN.tmp" "$BIN"
fi

# settings are this instance's (its flags' GTS_ environment variables: the
# server and the admin commands alike); gts runs an admin command.
settings() {
  SETTINGS=(GTS_HOST="127.0.0.1:$PORT" GTS_PROTOCOL=http GTS_BIND_ADDRESS=127.0.0.1 GTS_PORT="$PORT"
    GTS_DB_TYPE=postgres GTS_DB_ADDRESS=127.0.0.1 GTS_DB_PORT="${PGPORT:-5432}" GTS_DB_USER=postgres
    GTS_DB_DATABASE="$DB" GTS_DB_TLS_MODE=disable GTS_STORAGE_LOCAL_BASE_PATH="$DIR/storage"
    GTS_WEB_TEMPLATE_BASE_DIR="$SRC/web/template/" GTS_WEB_ASSET_BASE_DIR="$SRC/web/assets/"
    GTS_LETSENCRYPT_ENABLED=false GTS_ACCOUNTS_REGISTRATION_OPEN=false GTS_LOG_LEVEL=warn
    GTS_ADVANCED_RATE_LIMIT_REQUESTS="$RATE" GTS_INSTANCE_DELIVER_TO_SHARED_INBOXES=false)
}
gts() { env "${SETTINGS[@]}" "$BIN" "$@"; }

# Its own database, named after its directory; stop.sh drops it with the
# directory (DIR/.dropdb names it).
DB=caliopen_gts_$(basename "$DIR" | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')
command -v createdb >/dev/null || apt_install postgresql-client
createdb -h 127.0.0.1 -p "${PGPORT:-5432}" -U postgres "$DB" >&2
printf '%s %s\n' "${PGPORT:-5432}" "$DB" >"$DIR/.dropdb"
PID=
for attempt in 1 2; do
  PORT=$(free_port 45000 49999)
  mkdir -p "$DIR/storage"
  settings
  # env execs the server, so $! is its pid (stop.sh signals it). All three
  # standard streams are redirected so that $(...) does not wait for it.
  env "${SETTINGS[@]}" "$BIN" server start </dev/null >"$DIR/gotosocial.log" 2>&1 &
  PID=$!
  # The first start migrates the database and compiles its WASM modules:
  # minutes on a busy machine.
  if wait_port "$PORT" "$PID" 400; then
    break
  fi
  log "gotosocial did not start (attempt $attempt):"
  tail -5 "$DIR/gotosocial.log" >&2 || true
  kill "$PID" 2>/dev/null || true
  PID=
done
[ -n "$PID" ] || { log "giving up on gotosocial"; exit 1; }
echo "$PID" >"$DIR/gotosocial.pid"
URL="http://127.0.0.1:$PORT"
log "gotosocial pid $PID: $URL, log $DIR/gotosocial.log"

# token NAME: creates local account NAME (e-mail NAME@example.org), then
# signs in as it through the authorization-code flow and prints its access
# token. GoToSocial has no password grant: an application is registered,
# /oauth/authorize sends to the sign-in form, the form's session allows the
# application, and the code of the out-of-band page is exchanged.
token() {
  local name=$1 pw="Caliopen-test-$1-pw1!" jar="$DIR/$1.cookies" app id secret loc code
  gts admin account create --username "$name" --email "$name@example.org" --password "$pw" >>"$DIR/admin.log" 2>&1
  gts admin account confirm --username "$name" >>"$DIR/admin.log" 2>&1 || true
  gts admin account enable --username "$name" >>"$DIR/admin.log" 2>&1 || true
  app=$(curl -fsS "$URL/api/v1/apps" -d client_name=caliopen-test -d redirect_uris=urn:ietf:wg:oauth:2.0:oob \
    -d scopes="read write")
  id=$(sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p' <<<"$app")
  secret=$(sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p' <<<"$app")
  [ -n "$id" ] && [ -n "$secret" ] || { log "no application registered: $app"; return 1; }
  curl -fsS -o /dev/null -c "$jar" -b "$jar" -G "$URL/oauth/authorize" --data-urlencode "client_id=$id" \
    --data-urlencode redirect_uri=urn:ietf:wg:oauth:2.0:oob -d response_type=code --data-urlencode "scope=read write"
  curl -fsS -o /dev/null -c "$jar" -b "$jar" "$URL/auth/sign_in" --data-urlencode "username=$name@example.org" \
    --data-urlencode "password=$pw"
  loc=$(curl -fsS -o /dev/null -c "$jar" -b "$jar" -X POST -w '%{redirect_url}' "$URL/oauth/authorize")
  code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
  [ -n "$code" ] || { log "no authorization code for $name (redirect: $loc)"; return 1; }
  curl -fsS "$URL/oauth/token" -d grant_type=authorization_code --data-urlencode "code=$code" \
    --data-urlencode "client_id=$id" --data-urlencode "client_secret=$secret" \
    --data-urlencode redirect_uri=urn:ietf:wg:oauth:2.0:oob | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'
}

ALICE=$(token alice)
BOB=$(token bob)
[ -n "$ALICE" ] && [ -n "$BOB" ] || { log "no access tokens (admin log: $DIR/admin.log)"; kill "$PID"; exit 1; }
log "gotosocial accounts alice and bob ready"

cat <<VARS
export ${V}_URL=$URL
export ${V}_ALICE_TOKEN=$ALICE
export ${V}_BOB_TOKEN=$BOB
export ${V}_PID=$PID
export ${V}_DIR=$DIR
VARS
