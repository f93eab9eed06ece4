#!/bin/sh
# Crossbar reads "${VECHE_SERVICE_SECRET}" in config.json from its environment; Docker secrets arrive
# as files, so export the file's content first, then run Crossbar in the foreground.
set -eu
if [ -z "${VECHE_SERVICE_SECRET:-}" ] && [ -n "${VECHE_SERVICE_SECRET_FILE:-}" ]; then
  VECHE_SERVICE_SECRET="$(cat "$VECHE_SERVICE_SECRET_FILE")"
fi
if [ -z "${VECHE_SERVICE_SECRET:-}" ]; then
  echo "crossbar: VECHE_SERVICE_SECRET (or VECHE_SERVICE_SECRET_FILE) is required" >&2
  exit 2
fi
export VECHE_SERVICE_SECRET
exec crossbar start --cbdir "${CROSSBAR_DIR:-/node/.crossbar}" --loglevel "${CROSSBAR_LOGLEVEL:-info}"
