#!/usr/bin/env bash
# Run once, by the official postgres entrypoint, when the primary's data folder is created: the
# exporters' read-only monitoring role (replica/bin/veche-pg-monitor-role; the health check keeps it).
set -euo pipefail
veche-pg-monitor-role
