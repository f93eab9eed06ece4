# shellcheck shell=bash
# Shared by the deployment scripts (sourced): paths, defaults, progress output, docker helpers, and the
# variables stack.yml needs (stack_env).

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

# What goes into the nginx image (the Dockerfile's nginx target): nginx/, the web client and what it
# builds with. Its tag is a hash of these at a commit, so an upgrade that changes none of them keeps
# nginx running.
nginx_image_inputs=(nginx clients/web/src clients/web/index.html clients/web/package.json
  clients/web/vite.config.ts clients/web/tsconfig.json libs/contracts Dockerfile package.json
  pnpm-lock.yaml pnpm-workspace.yaml .npmrc tsconfig.base.json)

# nginx_version [commit]: the nginx image's tag at that commit (default HEAD; a changed checkout gets
# the -dirty version of the services, never a hash that would claim committed content).
nginx_version() {
  local ref=${1:-HEAD}
  if [ "$ref" = HEAD ] && [ -n "$(git -C "$veche_root" status --porcelain -- "${nginx_image_inputs[@]}" 2>/dev/null)" ]; then
    echo "$VECHE_VERSION"
    return
  fi
  local tree
  tree=$(git -C "$veche_root" ls-tree "$ref" -- "${nginx_image_inputs[@]}" 2>/dev/null) || tree=''
  if [ -z "$tree" ]; then echo "$VECHE_VERSION"; return; fi
  printf 'nginx-%s' "$(printf '%s\n' "$tree" | sha256sum | cut -c1-12)"
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

# Node 24 with the workspace's packages, for the stack checker (installed into the checkout on a fresh one).
ensure_node() {
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null \
    || [ ! -d "$veche_root/node_modules/yaml" ]; then
    step "installing Node 24 and the workspace's packages for the stack checker"
    # shellcheck source=scripts/lib/toolchain.sh
    source "$veche_root/scripts/lib/toolchain.sh"
    veche_toolchain
  fi
}

# The node holding the stack's volumes: VECHE_DATA_NODE, else the one node labelled veche.storage=true.
# Exactly one: the stateful services are pinned to its id, so no other node can start them on an
# empty volume.
data_node() {
  if [ -n "${VECHE_DATA_NODE:-}" ]; then
    echo "$VECHE_DATA_NODE"
    return
  fi
  local nodes
  mapfile -t nodes < <(docker node ls --quiet --filter node.label=veche.storage=true)
  case ${#nodes[@]} in
    1) echo "${nodes[0]}" ;;
    0) die "no node is labelled veche.storage=true: run scripts/deploy/init on the node that holds the data" ;;
    *) die "${#nodes[@]} nodes are labelled veche.storage=true (${nodes[*]}): exactly one holds the data; remove the label from the others (docker node update --label-rm veche.storage <node>)" ;;
  esac
}

# The PostgreSQL standby's node (ADR 0012): the one labelled veche.pg=standby, if any. Without one,
# the standby and the uploads sync run no task (VECHE_STANDBY_REPLICAS=0).
standby_env() {
  local nodes
  mapfile -t nodes < <(docker node ls --quiet --filter node.label=veche.pg=standby)
  case ${#nodes[@]} in
    0) VECHE_STANDBY_NODE=none VECHE_STANDBY_REPLICAS=0 ;;
    1) VECHE_STANDBY_NODE=${nodes[0]} VECHE_STANDBY_REPLICAS=1 ;;
    *) die "${#nodes[@]} nodes are labelled veche.pg=standby (${nodes[*]}): one standby at most" ;;
  esac
  export VECHE_STANDBY_NODE VECHE_STANDBY_REPLICAS
}

# The stack files of a tree (DIR) for VECHE_LAYOUT: `single` (default; stack.yml) or `multinode`
# (three managers: stack.yml + stack.cluster.yml + stack.multinode.yml). An older release without the
# overlays gets what it has.
stack_files() {
  local dir=$1 file
  case "${VECHE_LAYOUT:-single}" in
    single) echo "$dir/stack.yml" ;;
    multinode)
      for file in stack.yml stack.cluster.yml stack.multinode.yml; do
        [ -f "$dir/$file" ] && echo "$dir/$file"
      done
      ;;
    *) die "VECHE_LAYOUT must be single or multinode, not '$VECHE_LAYOUT'" ;;
  esac
  return 0
}

# The node carrying the label veche.node=N (exactly one), for the multi-node layout's pins.
numbered_node() {
  local nodes
  mapfile -t nodes < <(docker node ls --quiet --filter "node.label=veche.node=$1")
  [ ${#nodes[@]} -eq 1 ] || die "the multi-node layout needs exactly one node labelled veche.node=$1 (found ${#nodes[@]}): docker node update --label-add veche.node=$1 <node>"
  echo "${nodes[0]}"
}

# The secrets stack.yml names: `name: veche_<key>${VECHE_SECRET_<KEY>…}`.
stack_secret_keys() {
  local file
  while read -r file; do
    sed -nE 's/^ *name: veche_([a-z0-9_]+)\$\{VECHE_SECRET_.*/\1/p' "$file"
  done < <(stack_files "${1:-$veche_root}")
}

# The current version suffix of secret <key>: '' for veche_<key>, _vN for the highest veche_<key>_vN.
# (reads $existing_secrets, the names `docker secret ls` gave)
secret_suffix() {
  local key=$1 best=0 name n
  while read -r name; do
    case "$name" in
      "veche_$key") [ "$best" -gt 0 ] || best=1 ;;
      "veche_${key}_v"*)
        n=${name#"veche_${key}_v"}
        case "$n" in '' | *[!0-9]*) ;; *) [ "$n" -le "$best" ] || best=$n ;; esac ;;
    esac
  done <<<"$existing_secrets"
  if [ "$best" -le 1 ]; then echo ''; else echo "_v$best"; fi
}

# Exports every variable the stack files of tree DIR need beyond the operator's: VECHE_NGINX_VERSION,
# VECHE_DATA_NODE (and VECHE_NODE_2/3 in the multi-node layout), VECHE_CONFIG_<KEY> (hash of each
# config file) and VECHE_SECRET_<KEY> (each secret's current version).
# stack_env DIR [commit]: the commit the nginx tag is computed at (a rollback's older release).
stack_env() {
  local dir=$1 ref=${2:-HEAD} line key var files
  ensure_node
  VECHE_NGINX_VERSION=$(nginx_version "$ref")
  VECHE_DATA_NODE=$(data_node)
  export VECHE_NGINX_VERSION VECHE_DATA_NODE
  standby_env
  if [ "${VECHE_LAYOUT:-single}" = multinode ]; then
    VECHE_NODE_2=$(numbered_node 2)
    VECHE_NODE_3=$(numbered_node 3)
    export VECHE_NODE_2 VECHE_NODE_3
  fi
  mapfile -t files < <(stack_files "$dir")
  while IFS= read -r line; do
    [ -n "$line" ] && export "${line?}"
  done < <(node "$veche_root/scripts/deploy/stack-check.ts" --config-env "${files[@]}")
  existing_secrets=$(docker secret ls --format '{{.Name}}')
  while read -r key; do
    [ -n "$key" ] || continue
    var="VECHE_SECRET_$(printf '%s' "$key" | tr '[:lower:]' '[:upper:]')"
    export "$var=$(secret_suffix "$key")"
  done < <(stack_secret_keys "$dir")
}

# Deploys (or updates) the stack from tree DIR and waits for every service to converge
# (--detach=false), then checks each one: an update that ended in anything but "completed", or fewer
# running tasks than wanted, fails the command, naming the services. deploy_stack DIR [args…]
deploy_stack() {
  local dir=$1 file args=()
  shift
  while read -r file; do args+=(-c "$file"); done < <(stack_files "$dir")
  (cd "$dir" && docker stack deploy --with-registry-auth --detach=false "$@" "${args[@]}" "$VECHE_STACK")
  check_services
}

check_services() {
  local name replicas state failed=()
  while IFS=$'\t' read -r name replicas; do
    [ -n "$name" ] || continue
    state=$(docker service inspect "$name" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
    case "$state" in
      '' | completed) ;;
      *) failed+=("$name (update $state)") ;;
    esac
    replicas=${replicas%% *}
    if [ "${replicas%%/*}" != "${replicas##*/}" ]; then failed+=("$name ($replicas running)"); fi
  done < <(docker stack services "$VECHE_STACK" --format '{{.Name}}	{{.Replicas}}')
  if [ ${#failed[@]} -gt 0 ]; then
    die "not every service took the new version: ${failed[*]} — see scripts/deploy/status and 'docker service ps --no-trunc <service>'"
  fi
  say "every service of $VECHE_STACK is updated and running"
}

# A registry on the loopback address serves this node only: with more nodes, images must come from a
# registry every node reaches, with TLS and authentication.
require_reachable_registry() {
  case "$VECHE_REGISTRY" in
    127.0.0.1:* | localhost:*)
      local count
      count=$(docker node ls --quiet | wc -l)
      if [ "$count" -gt 1 ]; then
        die "the swarm has $count nodes but VECHE_REGISTRY=$VECHE_REGISTRY is on this node's loopback only: set VECHE_REGISTRY to a registry with TLS and authentication that every node reaches, and docker login to it"
      fi
      ;;
  esac
}

# The stack checker is TypeScript run by Node 24 with the workspace's packages: install them on a
# fresh checkout (into the checkout, as ./scripts/test does), then check.
stack_check() {
  local files
  ensure_node
  mapfile -t files < <(stack_files "${1:-$veche_root}")
  node "$veche_root/scripts/deploy/stack-check.ts" "${files[@]}"
}
