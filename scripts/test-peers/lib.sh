# Helpers sourced by the scripts of this folder.

# log writes to stderr, so that stdout carries only the export lines.
log() { echo "test-peers: $*" >&2; }

# port_open PORT: true when something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port FIRST LAST: prints a port of the range that nothing listens on,
# starting at a random offset so that parallel runs rarely collide.
free_port() {
  local first=$1 last=$2 span=$(($2 - $1 + 1)) i p
  for i in $(seq 0 $((span - 1))); do
    p=$((first + (RANDOM + i) % span))
    if ! port_open "$p"; then echo "$p"; return 0; fi
  done
  log "no free port in $first-$last"; return 1
}

# wait_port PORT PID SECONDS: waits until PORT answers; fails when PID dies
# or the time runs out.
wait_port() {
  local port=$1 pid=$2 n=$(($3 * 20))
  while ((n-- > 0)); do
    port_open "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# cache_lock DIR: takes DIR's lock (fd 8) until cache_unlock, so that two
# runs (two checkouts, two CI jobs on one machine) never build into one
# cache at once: the second waits, then finds the build done. Release it
# before starting a server, which would otherwise inherit it.
cache_lock() {
  mkdir -p "$1"
  exec 8>"$1/.lock"
  flock 8
}
cache_unlock() { exec 8>&-; }

# apt_install PKG...: installs Debian packages quietly (progress on stderr).
# One apt-get at a time: scripts/test.sh runs these scripts in parallel, and
# a second dpkg would fail on dpkg's lock rather than wait for it.
apt_install() {
  log "installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  (
    flock 9
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >&2
  ) 9>"${TMPDIR:-/tmp}/caliopen-apt.lock"
}
