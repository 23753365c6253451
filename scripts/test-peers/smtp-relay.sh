#!/usr/bin/env bash
# Starts Postfix's smtp-sink (smtp-sink.sh) and a private Postfix relay in
# front of it (postfix-relay.sh), and prints both scripts' variables:
#
#   vars=$(bash scripts/test-peers/smtp-relay.sh) && eval "$vars"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_POSTFIX_RELAY_PID" "$CALIOPEN_TEST_POSTFIX_RELAY_DIR"
#   bash scripts/test-peers/stop.sh "$CALIOPEN_TEST_SMTP_SINK_PID" "$CALIOPEN_TEST_SMTP_SINK_DIR"
#
# Also prints postfix-tools.sh's (smtp-source, smtp-sink, swaks). The sink's
# variables are printed before the relay starts, so that a caller stops the
# sink when the relay fails. Progress goes to stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
bash "$HERE/postfix-tools.sh"
vars=$(bash "$HERE/smtp-sink.sh") && eval "$vars"
echo "$vars"
bash "$HERE/postfix-relay.sh" "" "$CALIOPEN_TEST_SMTP_SINK_ADDR"
