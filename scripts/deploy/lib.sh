# shellcheck shell=bash
# Shared by the deployment scripts (sourced): paths, defaults, progress output, docker helpers.

veche_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export VECHE_REGISTRY=${VECHE_REGISTRY:-127.0.0.1:5000}
export VECHE_STACK=${VECHE_STACK:-veche}
if [ -z "${VECHE_VERSION:-}" ]; then
  VECHE_VERSION=$(git -C "$veche_root" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
  if [ -n "$(git -C "$veche_root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    VECHE_VERSION="$VECHE_VERSION-dirty"
  fi
fi
export VECHE_VERSION

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
warn() { printf '\033[1;33m[warn]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[error]\033[0m %s\n' "$*" >&2; exit 1; }

need_docker() {
  command -v docker >/dev/null 2>&1 || die "the docker client is not installed (see docs/operations.md)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (is dockerd running, and may this user use it?)"
}

# The services the Dockerfile builds: every folder of services/ with a package.json.
veche_services() {
  local dir
  for dir in "$veche_root"/services/*/; do
    [ -f "$dir/package.json" ] && basename "$dir"
  done
  return 0
}

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }

require_swarm() {
  [ "$(swarm_state)" = active ] || die "this node is not in a swarm: run scripts/deploy/init first"
}

# The variables stack.yml needs, checked before anything is changed.
require_stack_env() {
  [ -n "${VECHE_DOMAIN:-}" ] || die "set VECHE_DOMAIN to the public host name (e.g. VECHE_DOMAIN=chat.example.org)"
  [ -n "${VECHE_ACME_EMAIL:-}" ] || die "set VECHE_ACME_EMAIL to the contact address for Let's Encrypt"
}

# The stack checker is TypeScript run by Node 24 with the workspace's packages: install them on a
# fresh checkout (into the checkout, as ./scripts/test does), then check.
stack_check() {
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null \
    || [ ! -d "$veche_root/node_modules/yaml" ]; then
    step "installing Node 24 and the workspace's packages for the stack checker"
    # shellcheck source=scripts/lib/toolchain.sh
    source "$veche_root/scripts/lib/toolchain.sh"
    veche_toolchain
  fi
  node "$veche_root/scripts/deploy/stack-check.ts" "$veche_root/stack.yml"
}
