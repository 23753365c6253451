#!/usr/bin/env bash
# Makes sure Postfix's smtp-source and smtp-sink and swaks are installed, for
# the tests of internal/smtplistener and for cmd/bench-inbound, and prints
# where they are as shell export lines:
#
#   eval "$(bash scripts/test-peers/postfix-tools.sh)"
#
# Installs Debian's postfix and swaks with apt-get when missing. Postfix is
# installed with "No configuration": no main.cf is written and no system MTA
# runs; only the tools are used. Nothing is started.
# Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ] || ! command -v swaks >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt_install postfix swaks
fi
for b in /usr/sbin/smtp-source /usr/sbin/smtp-sink; do
  [ -x "$b" ] || { log "$b missing after install"; exit 1; }
done
command -v swaks >/dev/null || { log "swaks missing after install"; exit 1; }
log "postfix tools and swaks $(swaks --version 2>/dev/null | head -1 | awk '{print $NF}') ready"
echo "export CALIOPEN_TEST_SMTP_SOURCE=/usr/sbin/smtp-source"
echo "export CALIOPEN_TEST_SMTP_SINK=/usr/sbin/smtp-sink"
echo "export CALIOPEN_TEST_SWAKS=$(command -v swaks)"
