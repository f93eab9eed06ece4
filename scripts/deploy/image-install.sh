#!/usr/bin/env bash
# The image recipe for one service, shared by the Dockerfile and its integration test: installs the
# service and the workspace libraries it needs with production dependencies only, from the frozen
# lockfile and a pnpm store filled beforehand by `pnpm fetch` (so it runs offline), and drops tests.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/deploy/image-install.sh <service>

Run at the root of a copy of the workspace (the Dockerfile's build stage). Installs services/<service>
and its workspace dependencies with --prod --frozen-lockfile --offline, then removes test folders.
Environment: PNPM_STORE_DIR (default /pnpm/store), the store `pnpm fetch` filled.
USAGE
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
esac
service=$1
store=${PNPM_STORE_DIR:-/pnpm/store}

manifest="services/$service/package.json"
[ -f "$manifest" ] || { echo "image-install: no $manifest (SERVICE must name a folder of services/)" >&2; exit 2; }
name=$(node -p "JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8')).name" "$manifest")

echo "image-install: $name with production dependencies"
CI=true pnpm install --offline --frozen-lockfile --prod --store-dir "$store" --filter "$name..."
rm -rf libs/*/test services/*/test
# Other services' sources are not copied into the final stage; nothing else to prune here.
echo "image-install: done"
