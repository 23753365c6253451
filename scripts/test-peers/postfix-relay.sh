#!/usr/bin/env bash
# Starts a private Postfix relay on a free loopback port: its own main.cf
# and master.cf, queue and log under DIR (postfix -c DIR/etc start), no
# local delivery, no DNS, accepting mail from 127.0.0.0/8 and relaying all
# of it to one next hop. Prints the variables the tests read:
#
#   vars=$(bash scripts/test-peers/postfix-relay.sh "" 127.0.0.1:12525) && eval "$vars"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_POSTFIX_RELAY_PID" "$CALIOPEN_TEST_POSTFIX_RELAY_DIR"
#
# usage: postfix-relay.sh [DIR] NEXTHOP(host:port)   (runs as root)
# Installs postfix with apt-get when missing. Log: DIR/maillog.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
NEXTHOP=${2:?next hop host:port}
[ "$(id -u)" = 0 ] || { log "postfix must be started as root"; exit 1; }
bash "$HERE/postfix-tools.sh" >/dev/null # installs postfix when missing
DIR=${1:-}
[ -n "$DIR" ] || DIR=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-postfix.XXXXXX")
mkdir -p "$DIR/etc" "$DIR/spool" "$DIR/data"
DIR=$(cd "$DIR" && pwd)
chmod 755 "$DIR"
chown postfix "$DIR/data"
PORT=$(free_port 12626 12725)
cat >"$DIR/etc/main.cf" <<CF
# test relay written by scripts/test-peers/postfix-relay.sh
compatibility_level = 3.6
queue_directory = $DIR/spool
data_directory = $DIR/data
maillog_file = $DIR/maillog
maillog_file_prefixes = $DIR
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.caliopen.test
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery in the test relay
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = permit_mynetworks, reject
relayhost = [${NEXTHOP%:*}]:${NEXTHOP##*:}
smtp_dns_support_level = disabled
smtp_host_lookup = native
biff = no
maximal_queue_lifetime = 10m
bounce_queue_lifetime = 10m
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 20s
default_destination_concurrency_limit = 50
CF
cat >"$DIR/etc/master.cf" <<CF
127.0.0.1:$PORT inet n - n - 100 smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
# `postfix start` checks the configuration itself (a separate `postfix
# check` took 6 of the script's 11 s); without syslog, postfix explains a
# bad configuration only on a tty, so the check is run again on one then.
postfix -c "$DIR/etc" start >/dev/null 2>&1 || {
  log "postfix did not start, see $DIR/maillog"
  script -qc "postfix -c $DIR/etc check" /dev/null >&2
  exit 1
}
for _ in $(seq 1 100); do
  [ -s "$DIR/spool/pid/master.pid" ] && port_open "$PORT" && break
  sleep 0.1
done
PID=$(tr -d ' ' <"$DIR/spool/pid/master.pid")
kill -0 "$PID" && port_open "$PORT" || { log "postfix did not start, see $DIR/maillog"; exit 1; }
log "started postfix relay pid $PID on 127.0.0.1:$PORT -> $NEXTHOP, log $DIR/maillog"
echo "export CALIOPEN_TEST_POSTFIX_RELAY_ADDR=127.0.0.1:$PORT"
echo "export CALIOPEN_TEST_POSTFIX_RELAY_PID=$PID"
echo "export CALIOPEN_TEST_POSTFIX_RELAY_DIR=$DIR"
