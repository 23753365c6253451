#!/usr/bin/env bash
# Makes sure the clients that the documents' examples use are installed (curl
# and swaks), for cmd/caliopen's TestDocs, which runs those examples against
# the local system, and prints where they are as shell export lines:
#
#   eval "$(bash scripts/test-peers/doc-tools.sh)"
#
# Installs Debian's curl and swaks with apt-get when missing. Nothing is
# started. Progress goes to stderr; stdout is only the export lines.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

missing=()
command -v curl >/dev/null || missing+=(curl ca-certificates)
command -v swaks >/dev/null || missing+=(swaks)
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
for b in curl swaks; do
  command -v "$b" >/dev/null || { log "$b missing after install"; exit 1; }
done
log "curl and swaks ready"
echo "export CALIOPEN_TEST_CURL=$(command -v curl)"
echo "export CALIOPEN_TEST_SWAKS=$(command -v swaks)"
