#!/usr/bin/env bash
# The image recipe for one service, shared by the Dockerfile and its integration test: installs the
# service and the workspace libraries it needs with production dependencies only, from the frozen
# lockfile and a pnpm store filled beforehand by `pnpm fetch` (so it runs offline), and drops tests.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/deploy/image-install.sh <service>

Run at the root of a copy of the workspace (the Dockerfile's build stage; it refuses a git checkout,
whose dependencies and tests it would remove). Installs services/<service> and its workspace
dependencies with --prod --frozen-lockfile --offline, then removes test folders.
Environment: PNPM_STORE_DIR (default /pnpm/store), the store `pnpm fetch` filled.
USAGE
}

case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  '') usage >&2; exit 2 ;;
esac
service=$1
store=${PNPM_STORE_DIR:-/pnpm/store}

# It prunes dependencies and deletes tests: only ever in a build context, never in a checkout.
if [ -e .git ]; then
  echo "image-install: refusing to run in a git checkout ($(pwd)); it is for the image's build stage" >&2
  exit 2
fi

manifest="services/$service/package.json"
[ -f "$manifest" ] || { echo "image-install: no $manifest (SERVICE must name a folder of services/)" >&2; exit 2; }
name=$(node -p "JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8')).name" "$manifest")

echo "image-install: $name with production dependencies"
# `pnpm fetch` left every package of the lockfile (dev tools too) in node_modules/.pnpm; start from
# the store alone, so node_modules holds only what this service needs at run time.
rm -rf node_modules libs/*/node_modules services/*/node_modules clients/*/node_modules
CI=true pnpm install --offline --frozen-lockfile --prod --store-dir "$store" --filter "$name..."
rm -rf libs/*/test services/*/test
# Other services' sources are not copied into the final stage; nothing else to prune here.
echo "image-install: done"
