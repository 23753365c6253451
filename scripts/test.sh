#!/usr/bin/env bash
# Runs every test, on a fresh machine too: installs and starts the servers the
# tests need (PostgreSQL, an S3 server, Postfix's smtp-sink and a private
# Postfix relay, Dovecot IMAP, GnuPG with nsd and sks, Debian's nats-server 2.9
# for the connector's oldest supported server, Jaeger for the traces, GoToSocial
# for the Mastodon bridge; swaks and smtp-source as clients), runs
# `go test -race ./...`, stops what it started.
# NATS otherwise needs nothing: the tests embed it. Extra arguments go to `go test`.
#
# The peers are made ready in parallel, each as a job (see `job` below): the
# slow builds (Jaeger, the OpenFaaS tools, nats-server, versitygw) start at
# once, beside one apt-get for every Debian package missing
# (test-peers/debian.sh); the peers that need those packages start when it
# is done. Each job's lines are prefixed with the time and its name, its
# wall time is printed when it ends, a failed one stops the run naming it.
# The builds are cached under ~/.cache (see docs/testing.md): a second run
# only starts the servers. CALIOPEN_TEST_LINT=1 (.ci/run sets it) runs
# `make lint` as one more job. `go test` starts once every job is done;
# CALIOPEN_TEST_PEERS_ONLY=1 stops there (the peer phase alone, timed).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local

work=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-test.XXXXXX")
T0=$EPOCHREALTIME
log() { printf '%(%T)T test.sh: %s\n' -1 "$*" >&2; }

# seconds FROM: the seconds since the $EPOCHREALTIME FROM, one decimal.
seconds() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# stamp NAME: copies its input to stderr, each line prefixed with the
# time and NAME.
stamp() {
  local l
  while IFS= read -r l || [ -n "$l" ]; do printf '%(%T)T [%s] %s\n' -1 "$1" "$l"; done >&2
}

# The jobs: their pid while they run, the servers each starts (the prefix
# of the variables its script prints: CALIOPEN_TEST_<prefix>_PID and _DIR).
declare -A JOB_PID=() JOB_NAME=() JOB_SERVERS=()
# The servers started, as pid and directory pairs: stopped, their
# directories (data, dumps, mail) removed.
PEERS=()
# Each job's wall time, "seconds name", for the summary.
TIMES=()

# job NAME AFTER SERVERS CMD...: runs CMD in the background, once the job
# AFTER (if not empty) has succeeded; CMD's stdout (export lines) goes to
# $work/NAME.vars, read when it ends; its stderr is stamped.
job() {
  local name=$1 after=$2
  JOB_SERVERS[$name]=$3
  shift 3
  (
    if [ -n "$after" ]; then
      until [ -e "$work/$after.ok" ]; do sleep 0.2; done
    fi
    echo "$EPOCHREALTIME" >"$work/$name.t0"
    set -o pipefail
    "$@" 2>&1 >"$work/$name.vars" </dev/null | stamp "$name"
  ) &
  JOB_PID[$name]=$!
  JOB_NAME[$!]=$name
}

# servers NAME: reads the variables job NAME printed (its `export VAR=...`
# lines, nothing else) and adds the servers it started to PEERS.
servers() {
  local p pid dir
  [ -s "$work/$1.vars" ] || return 0
  eval "$(grep -E '^export [A-Za-z_][A-Za-z0-9_]*=' "$work/$1.vars")"
  for p in ${JOB_SERVERS[$1]}; do
    pid=CALIOPEN_TEST_${p}_PID dir=CALIOPEN_TEST_${p}_DIR
    PEERS+=("${!pid:-}" "${!dir:-}")
  done
}

# wait_jobs: waits for every job; the first that fails ends the run.
wait_jobs() {
  local pid rc name took
  while ((${#JOB_PID[@]})); do
    rc=0
    wait -n -p pid "${JOB_PID[@]}" || rc=$?
    name=${JOB_NAME[$pid]:-}
    [ -n "$name" ] || continue
    unset "JOB_PID[$name]"
    took=$(seconds "$(cat "$work/$name.t0" 2>/dev/null || echo "$T0")")
    TIMES+=("$took $name")
    if ((rc != 0)); then
      servers "$name" # what it started before it failed is stopped too
      log "FAILED: $name (exit $rc after ${took}s; its lines are marked [$name] above)"
      exit 1
    fi
    servers "$name"
    touch "$work/$name.ok"
    log "ready: $name in ${took}s"
  done
}

# kill_tree PID: stops PID and every process under it.
kill_tree() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill_tree "$c"; done
  kill -TERM "$1" 2>/dev/null || true
}

cleanup() {
  local name i end=$((SECONDS + 30))
  # Jobs still running (another failed): those that have begun get up to
  # 30 s to end on their own, since a server that forks into the
  # background (Dovecot, Postfix) is known only by the lines its script
  # prints once it is up; then they are stopped, and what they had
  # started is stopped with the rest.
  while ((${#JOB_PID[@]})) && ((SECONDS < end)); do
    for name in "${!JOB_PID[@]}"; do
      if ! kill -0 "${JOB_PID[$name]}" 2>/dev/null || [ ! -e "$work/$name.t0" ]; then
        kill_tree "${JOB_PID[$name]}"
        servers "$name" 2>/dev/null || true
        unset "JOB_PID[$name]"
      fi
    done
    ((${#JOB_PID[@]})) && sleep 0.2
  done
  for name in "${!JOB_PID[@]}"; do
    kill_tree "${JOB_PID[$name]}"
    servers "$name" 2>/dev/null || true
  done
  for ((i = 0; i < ${#PEERS[@]}; i += 2)); do
    bash scripts/test-peers/stop.sh "${PEERS[i]}" "${PEERS[i + 1]}" &
  done
  wait
  rm -rf "$work"
}
trap cleanup EXIT

log "making the peers ready in parallel (lines: time [job] text)"
# job     name         after   servers                  command
job debian             ""      ""                       bash scripts/test-peers/debian.sh
job jaeger             ""      JAEGER                   bash scripts/test-peers/jaeger.sh
job openfaas           ""      ""                       bash scripts/test-peers/openfaas.sh
job versitygw          ""      S3                       bash scripts/test-peers/versitygw.sh
job nats-server        ""      ""                       bash scripts/test-peers/nats-server.sh
job postgres           debian  POSTGRES                 bash scripts/test-peers/postgres.sh
job smtp               debian  "SMTP_SINK POSTFIX_RELAY" bash scripts/test-peers/smtp-relay.sh
job doc-tools          debian  ""                       bash scripts/test-peers/doc-tools.sh
job keyservers         debian  ""                       bash scripts/test-peers/keyservers.sh
job dovecot-imap       debian  DOVECOT_IMAP             bash scripts/test-peers/dovecot-imap.sh
job nats29             debian  NATS29                   bash scripts/test-peers/nats29.sh
job image-bases        debian  ""                       bash scripts/test-peers/image-bases.sh
# GoToSocial on the PostgreSQL above; the second, rate-limited one after the
# first, whose build it reuses.
job gotosocial         postgres GOTOSOCIAL              bash scripts/test-peers/gotosocial.sh
job gotosocial-limited gotosocial GOTOSOCIAL_LIMITED    env CALIOPEN_GOTOSOCIAL_NAME=LIMITED CALIOPEN_GOTOSOCIAL_RATE_LIMIT=30 bash scripts/test-peers/gotosocial.sh
# make prints what it runs on stdout: stamped with the rest.
[ "${CALIOPEN_TEST_LINT:-}" != 1 ] || job lint "" "" bash -c 'make lint >&2'
wait_jobs
log "peers ready in $(seconds "$T0")s; each job's wall time:"
printf '%s\n' "${TIMES[@]}" | sort -rn | awk '{ printf "  %8.1fs  %s\n", $1, $2 }' >&2
# CALIOPEN_TEST_PEERS_ONLY=1: the peers made ready, timed and stopped; no test.
[ "${CALIOPEN_TEST_PEERS_ONLY:-}" != 1 ] || exit 0

# The tests' output as go test prints it, then each package's time, slowest
# first (cmd/test-timing reads go test -json); the exit code stays go test's.
go build -o "$work/" ./cmd/test-timing
verbose=
[[ " $* " != *" -v "* ]] || verbose=-v
# The packages whose logs are the proof of the real tools (the podman build
# and the order its image answered, each faas-cli verb's own output, the
# chaos test's faults, the hostile cases' counts, the Mastodon bridge's
# exchanges with GoToSocial) are printed whole.
m=github.com/caliopen/functions/systest
show=$m/imagebuild,$m/providersys,$m/chaos,$m/hostile,$m/mastodonsys,github.com/caliopen/functions/functions/mastodon-dm
go test -race -count=1 -timeout=40m -json "$@" ./... | "$work/test-timing" $verbose -show "$show"
