#!/usr/bin/env bash
# Starts a throwaway Dovecot that only serves LMTP on a free loopback port
# (delivery into Maildirs under DIR), for cmd/bench-inbound's comparison, and
# prints its address and pid as shell export lines:
#
#   eval "$(bash scripts/test-peers/dovecot.sh)"
#   ... ; bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_DOVECOT_PID" "$CALIOPEN_TEST_DOVECOT_DIR"
#
# Installs Debian's dovecot-core and dovecot-lmtpd with apt-get when missing.
# Any recipient is accepted (static userdb, allow_all_users); its mail goes to
# DIR/home/<local part>/Maildir, owned by nobody. No IMAP, no TLS; mail_fsync is Dovecot's default (optimized).
#
# usage: dovecot.sh [DIR]      (default: a new mktemp -d directory)
# Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/lmtp ]; then
  apt_install dovecot-core dovecot-lmtpd
fi
DIR=${1:-$(mktemp -d "${TMPDIR:-/tmp}/caliopen-dovecot.XXXXXX")}
mkdir -p "$DIR/run" "$DIR/state" "$DIR/home"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR" "$DIR/home"
chown nobody:nogroup "$DIR/home"
PORT=$(free_port 14024 14123)
cat >"$DIR/dovecot.conf" <<CONF
# throwaway LMTP-only instance, written by scripts/test-peers/dovecot.sh
protocols = lmtp
listen = 127.0.0.1
base_dir = $DIR/run
state_dir = $DIR/state
instance_name = caliopen-dovecot-$PORT
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
ssl = no
mail_location = maildir:~/Maildir
# Dovecot's default durability (fsync on delivery), as the listener fsyncs each raw message.
mail_fsync = optimized
first_valid_uid = 1
shutdown_clients = yes
auth_username_format = %n
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DIR/home/%n allow_all_users=yes
}
service lmtp {
  process_min_avail = 4
  inet_listener lmtp {
    address = 127.0.0.1
    port = $PORT
  }
  unix_listener lmtp {
    mode = 0600
  }
}
service doveadm {
  inet_listener {
    port = 0
  }
}
CONF
doveconf -c "$DIR/dovecot.conf" -n >/dev/null
# The daemon must not keep the caller's stdout: eval "$(...)" would wait for it.
/usr/sbin/dovecot -c "$DIR/dovecot.conf" </dev/null >/dev/null 2>>"$DIR/dovecot.log"
for _ in $(seq 1 100); do
  [ -s "$DIR/run/master.pid" ] && port_open "$PORT" && break
  sleep 0.05
done
PID=$(cat "$DIR/run/master.pid" 2>/dev/null || true)
if [ -z "$PID" ] || ! kill -0 "$PID" 2>/dev/null || ! port_open "$PORT"; then
  log "dovecot failed to start:"; cat "$DIR/dovecot.log" >&2 2>/dev/null; exit 1
fi
log "started dovecot $(dovecot --version | awk '{print $1}') LMTP pid $PID on 127.0.0.1:$PORT, mail in $DIR/home"
echo "export CALIOPEN_TEST_DOVECOT_LMTP=127.0.0.1:$PORT"
echo "export CALIOPEN_TEST_DOVECOT_PID=$PID"
echo "export CALIOPEN_TEST_DOVECOT_DIR=$DIR"
