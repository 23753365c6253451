#!/usr/bin/env bash
# Pulls the INBOX of an IMAP account on 127.0.0.1 into a fresh local Maildir
# with isync's mbsync, and prints what it pulled and how long it took:
#
#   vars=$(bash scripts/test-peers/mbsync.sh PORT USER PASS [OUTDIR] [FSYNC]) && eval "$vars"
#   -> CALIOPEN_MBSYNC_MSGS, CALIOPEN_MBSYNC_SECONDS, CALIOPEN_MBSYNC_DIR
#
# FSYNC is yes (mbsync's default; fsync dominates its time) or no. OUTDIR
# defaults to mktemp -d and must not hold an earlier pull (no sync state is
# reused). Plain-text LOGIN, no TLS: loopback test servers only. Installs
# isync with apt-get when missing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
command -v mbsync >/dev/null || apt_install isync
PORT=${1:?PORT}
USER_=${2:?USER}
PASS=${3:?PASS}
OUT=${4:-}
[ -n "$OUT" ] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/caliopen-mbsync.XXXXXX")
FSYNC=${5:-yes}
case "$FSYNC" in yes | no) ;; *) log "FSYNC must be yes or no"; exit 2 ;; esac
mkdir -p "$OUT/mail"
OUT=$(cd "$OUT" && pwd)
cat >"$OUT/mbsyncrc" <<CF
FSync $FSYNC

IMAPAccount peer
Host 127.0.0.1
Port $PORT
User $USER_
Pass $PASS
SSLType None
AuthMechs LOGIN
PipelineDepth 50

IMAPStore peer-remote
Account peer

MaildirStore peer-local
Path $OUT/mail/
Inbox $OUT/mail/INBOX
SubFolders Verbatim

Channel peer
Far :peer-remote:
Near :peer-local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
CF
start=$(date +%s.%N)
# mbsync warns "Password is being sent in the clear": expected on loopback.
timeout 600 mbsync -q -c "$OUT/mbsyncrc" -a 2> >(grep -v 'sent in the clear' >&2)
end=$(date +%s.%N)
n=$(find "$OUT/mail/INBOX" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
log "mbsync pulled $n messages (FSync $FSYNC) into $OUT/mail"
echo "export CALIOPEN_MBSYNC_MSGS=$n"
echo "export CALIOPEN_MBSYNC_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')"
echo "export CALIOPEN_MBSYNC_DIR=$OUT"
