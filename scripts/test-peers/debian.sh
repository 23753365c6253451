#!/usr/bin/env bash
# Installs, in one apt-get call, the Debian packages that the peers of
# scripts/test.sh need and this machine lacks, so that the peers' own
# scripts, run in parallel after it, find them installed:
#
#   bash scripts/test-peers/debian.sh
#
# Each line below is what a peer's script checks before it would install
# the same packages itself (it still does, one apt-get at a time, when run
# alone or when this list misses something). PostgreSQL is left out when a
# server already answers on 127.0.0.1:5432 (or $PGPORT): postgres.sh uses
# it. Nothing is started and nothing is printed on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

pkgs=()
# need CHECK PKG...: PKG... when the shell test CHECK fails.
need() {
  local check=$1
  shift
  eval "$check" >/dev/null 2>&1 || pkgs+=("$@")
}
need 'ls /usr/lib/postgresql/*/bin/initdb || port_open "${PGPORT:-5432}"' postgresql  # postgres.sh
need '[ -x /usr/sbin/smtp-source ] && [ -x /usr/sbin/smtp-sink ]' postfix           # postfix-tools.sh
need 'command -v swaks' swaks                                                        # postfix-tools.sh, doc-tools.sh
need 'command -v curl' curl ca-certificates                                          # doc-tools.sh
need 'command -v gpg && command -v dirmngr && [ -x /usr/lib/gnupg/gpg-wks-client ]' \
  gnupg dirmngr gpg-wks-client                                                       # keyservers.sh
need '[ -x /usr/sbin/nsd ] && [ -x /usr/sbin/sks ]' nsd sks                          # keyservers.sh
need '[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ]' dovecot-imapd dovecot-core # dovecot-imap.sh
need '[ -x /usr/sbin/nats-server ]' nats-server                                      # nats29.sh
need 'command -v podman && command -v debootstrap' podman buildah debootstrap uidmap # image-bases.sh
need '[ -x /usr/bin/prometheus ]' prometheus                                         # openfaas.sh
need 'command -v createdb' postgresql-client                                         # gotosocial.sh

if ((${#pkgs[@]} == 0)); then
  log "every Debian package the peers need is installed"
  exit 0
fi
# Postfix without a configuration: only its tools are used (postfix-tools.sh).
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt_install "${pkgs[@]}"
