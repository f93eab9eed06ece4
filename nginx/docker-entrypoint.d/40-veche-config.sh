#!/bin/sh
# Run by the nginx image's entrypoint before nginx starts: install a certificate (certbot's, else a
# temporary self-signed one), render the configuration, then keep watching for renewed certificates.
set -eu
veche-tls-sync --once --no-reload
veche-nginx-render
# Reloads nginx gracefully when certbot renews (the shared letsencrypt volume).
nohup veche-tls-sync --watch "${VECHE_TLS_SYNC_INTERVAL:-60}" >/proc/1/fd/2 2>&1 &
