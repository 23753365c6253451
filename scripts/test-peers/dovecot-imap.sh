#!/usr/bin/env bash
# Starts a private Dovecot IMAP server on a free loopback port: its own
# configuration under DIR (ignores /etc/dovecot), plaintext auth (STARTTLS
# offered, not required), implicit TLS on a second port with a self-signed
# certificate for 127.0.0.1 (its PEM in CALIOPEN_TEST_DOVECOT_IMAP_CA), one
# passwd-file user, Maildir, and a Sent mailbox carrying the SPECIAL-USE
# \Sent attribute (created at login). Prints the variables the tests read:
#
#   vars=$(bash scripts/test-peers/dovecot-imap.sh) && eval "$vars"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_DOVECOT_IMAP_PID" "$CALIOPEN_TEST_DOVECOT_IMAP_DIR"
#
# usage: dovecot-imap.sh [DIR] [USER] [PASS]   (defaults: mktemp -d, sender, secret)
# Installs dovecot-imapd with apt-get when missing. Mail belongs to nobody.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
if [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/lib/dovecot/imap ]; then
  apt_install dovecot-imapd dovecot-core
fi
DIR=${1:-}
[ -n "$DIR" ] || DIR=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-dovecot.XXXXXX")
USER_=${2:-sender}
PASS=${3:-secret}
mkdir -p "$DIR/run" "$DIR/state" "$DIR/home"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR" "$DIR/home" # mail processes run as nobody
[ "$(id -u)" = 0 ] && chown -R nobody:nogroup "$DIR/home"
echo "$USER_:{PLAIN}$PASS" >"$DIR/users"
chmod 644 "$DIR/users"
PORT=$(free_port 14143 14242)
TLS_PORT=$(free_port 14243 14342)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
chmod 644 "$DIR/cert.pem" "$DIR/key.pem"
cat >"$DIR/dovecot.conf" <<CF
# test server written by scripts/test-peers/dovecot-imap.sh
protocols = imap
listen = 127.0.0.1
base_dir = $DIR/run
state_dir = $DIR/state
instance_name = caliopen-imap-$PORT
log_path = $DIR/dovecot.log
ssl = yes
ssl_cert = <$DIR/cert.pem
ssl_key = <$DIR/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_fsync = never
first_valid_uid = 1
mail_max_userip_connections = 100
shutdown_clients = yes
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DIR/home/%u allow_all_users=yes
}
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
    auto = create
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $TLS_PORT
    ssl = yes
  }
}
service doveadm {
  inet_listener {
    port = 0
  }
}
CF
doveconf -c "$DIR/dovecot.conf" -n >/dev/null
/usr/sbin/dovecot -c "$DIR/dovecot.conf" </dev/null >/dev/null 2>&1
for _ in $(seq 1 100); do
  [ -s "$DIR/run/master.pid" ] && port_open "$PORT" && break
  sleep 0.05
done
PID=$(cat "$DIR/run/master.pid")
kill -0 "$PID" && port_open "$PORT" && port_open "$TLS_PORT" || { log "dovecot did not start:"; cat "$DIR/dovecot.log" >&2; exit 1; }
log "started dovecot $(dovecot --version | cut -d' ' -f1) pid $PID on 127.0.0.1:$PORT (TLS on $TLS_PORT), user $USER_"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_ADDR=127.0.0.1:$PORT"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_TLS_ADDR=127.0.0.1:$TLS_PORT"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_CA=$DIR/cert.pem"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_USER=$USER_"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_PASS=$PASS"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_PID=$PID"
echo "export CALIOPEN_TEST_DOVECOT_IMAP_DIR=$DIR"
