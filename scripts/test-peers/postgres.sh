#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable for the tests and prints the
# variables they read, as shell export lines:
#
#   eval "$(bash scripts/test-peers/postgres.sh)"     # then: go test ./internal/store/...
#   [ -n "$CALIOPEN_TEST_POSTGRES_PID" ] && bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_POSTGRES_PID" "$CALIOPEN_TEST_POSTGRES_DIR"
#
# 1. A server on 127.0.0.1:5432 (or $PGPORT) that lets user postgres in
#    without a password is used as it is (CALIOPEN_TEST_POSTGRES_PID is empty).
# 2. Otherwise the script installs Debian's postgresql when its binaries are
#    missing, creates a throwaway cluster (trust auth, no fsync: tests only)
#    in DIR, starts it on a free loopback port and prints its pid.
#
# usage: postgres.sh [DIR]      (default: a new mktemp -d directory)
# Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

url() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }

# accepts PORT: true when user postgres gets in without a password.
accepts() {
  command -v psql >/dev/null || return 1
  port_open "$1" || return 1
  PGPASSWORD= PGCONNECT_TIMEOUT=3 psql -w -Atq "$(url "$1")" -c 'SELECT 1' >/dev/null 2>&1
}

PORT=${PGPORT:-5432}
if accepts "$PORT"; then
  log "using the PostgreSQL server already on 127.0.0.1:$PORT"
  echo "export CALIOPEN_TEST_POSTGRES_URL='$(url "$PORT")'"
  echo "export CALIOPEN_TEST_POSTGRES_PID="
  exit 0
fi

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PGBIN=${PGBIN:-$(pgbin)}
if [ ! -x "${PGBIN:-/nonexistent}/initdb" ]; then
  apt_install postgresql
  PGBIN=$(pgbin)
fi
[ -x "${PGBIN:-/nonexistent}/initdb" ] || { log "no initdb found under /usr/lib/postgresql"; exit 1; }

DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-pg.XXXXXX")}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
AS=()
if [ "$(id -u)" = 0 ]; then
  # initdb and postgres refuse to run as root.
  chown postgres:postgres "$DIR"
  chmod 0755 "$DIR"
  AS=(runuser -u postgres --)
fi
if [ ! -s "$DIR/data/PG_VERSION" ]; then
  "${AS[@]}" "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
    >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
PORT=$(free_port 15432 15531)
# Tests only: no durability; the socket stays in DIR, off /var/run/postgresql.
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 30 start -o \
  "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  >/dev/null || { cat "$DIR/postgres.log" >&2; exit 1; }
PID=$(head -1 "$DIR/data/postmaster.pid")
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || { cat "$DIR/postgres.log" >&2; exit 1; }
log "started PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') pid $PID on 127.0.0.1:$PORT, data in $DIR/data"
echo "export CALIOPEN_TEST_POSTGRES_URL='$(url "$PORT")'"
echo "export CALIOPEN_TEST_POSTGRES_PID=$PID"
echo "export CALIOPEN_TEST_POSTGRES_DIR=$DIR"
