#!/usr/bin/env bash
# Makes sure the key servers and the GnuPG tools the key discovery tests
# use are installed, and prints where they are as shell export lines:
#
#   eval "$(bash scripts/test-peers/keyservers.sh)"
#
# Installs Debian's gnupg, dirmngr and gpg-wks-client (GnuPG, the
# reference: gpg --locate-external-keys, --export-options export-dane,
# gpg-wks-client --install-key), nsd (an authoritative DNS server for the
# OPENPGPKEY records and the test domains) and sks (an HKP keyserver) with
# apt-get when missing. Nothing is started: each test starts nsd and sks on
# its own loopback addresses with its own zones and keys, and runs gpg in a
# private mount namespace (unshare --mount) whose /etc/resolv.conf names
# that nsd, so GnuPG resolves the test domains without /etc/hosts being
# touched. That needs root (or CAP_SYS_ADMIN): without it the tests skip,
# and fail under CI=true.
# Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

WKS=/usr/lib/gnupg/gpg-wks-client
if ! command -v gpg >/dev/null || ! command -v dirmngr >/dev/null || [ ! -x "$WKS" ] ||
  [ ! -x /usr/sbin/nsd ] || [ ! -x /usr/sbin/sks ]; then
  apt_install gnupg dirmngr gpg-wks-client nsd sks
fi
for b in "$(command -v gpg)" "$WKS" /usr/sbin/nsd /usr/sbin/sks; do
  [ -x "$b" ] || { log "$b missing after install"; exit 1; }
done
log "gpg $(gpg --version | head -1 | awk '{print $NF}'), nsd and sks ready"
echo "export CALIOPEN_TEST_GPG=$(command -v gpg)"
echo "export CALIOPEN_TEST_GPG_WKS_CLIENT=$WKS"
echo "export CALIOPEN_TEST_NSD=/usr/sbin/nsd"
echo "export CALIOPEN_TEST_SKS=/usr/sbin/sks"
