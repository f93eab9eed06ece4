#!/usr/bin/env bash
# Provisioning of the standby VM after common.sh: joins the primary's swarm as a second manager,
# labels itself veche.pg=standby, builds the images and redeploys, so the stack starts the PostgreSQL
# standby (pg_basebackup from the primary) and the uploads mirror here. Idempotent.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: vagrant/provision/standby.sh [--help]     (as root, on the standby VM; Vagrant runs it)

Environment: VECHE_SWARM_JOIN_FILE (the primary's join command, handed over by the Vagrantfile),
VECHE_CHECKOUT, VECHE_DOMAIN, VECHE_ACME_EMAIL, VECHE_ACME_STAGING (as primary.sh).
USAGE
}
case "${1:-}" in -h | --help) usage; exit 0 ;; '') ;; *) usage >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
checkout=${VECHE_CHECKOUT:-/home/ubuntu/veche}

if ! docker info >/dev/null 2>&1; then
  say "skipped: no Docker engine answers (not a booted VM): no swarm, no standby"
  exit 0
fi

step "joining the primary's swarm"
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then
  say "already in the swarm"
else
  join=$(cat "${VECHE_SWARM_JOIN_FILE:?set VECHE_SWARM_JOIN_FILE}")
  case "$join" in "docker swarm join --token "*) ;; *) echo "unexpected join command in $VECHE_SWARM_JOIN_FILE" >&2; exit 1 ;; esac
  # shellcheck disable=SC2086 # the saved command's words
  $join
fi
primary_address=$(awk '{print $NF}' "${VECHE_SWARM_JOIN_FILE}" 2>/dev/null | cut -d: -f1 || true)

step "the standby's label: veche.pg=standby"
self=$(docker info --format '{{.Swarm.NodeID}}')
docker node update --label-add veche.pg=standby "$self" >/dev/null

step "building the images here too, and redeploying: the PostgreSQL standby and the uploads mirror start on this node"
export VECHE_DOMAIN=${VECHE_DOMAIN:-$primary_address}
export VECHE_ACME_EMAIL=${VECHE_ACME_EMAIL:-replica@example.org}
export VECHE_ACME_STAGING=${VECHE_ACME_STAGING:-1}
git config --global --add safe.directory "$checkout" 2>/dev/null || true
# The deployment scripts need some Node.js with npm (they install Node 24 into the checkout): ubuntu's,
# from nvm (common.sh).
# shellcheck source=/dev/null
export NVM_DIR=/home/ubuntu/.nvm && . "$NVM_DIR/nvm.sh" && nvm use --silent default
cd "$checkout"
# A replica-only shortcut: the primary's registry is on its loopback (ADR 0011 refuses that for a
# swarm of several nodes, which must use a registry every node reaches with TLS and authentication).
# Here each VM builds the same images under the same tags from the same checkout, and swarm runs the
# local copy; so the stack is deployed directly rather than through scripts/deploy/deploy.
scripts/deploy/build
eval "$(scripts/deploy/env)"
docker stack deploy --detach=true -c stack.yml "$VECHE_STACK"

step "waiting until the primary sees this standby streaming"
for _ in $(seq 1 120); do
  if VECHE_PG_DRIVER=swarm scripts/replica/lag >/dev/null 2>&1; then
    VECHE_PG_DRIVER=swarm scripts/replica/lag
    printf '\n\033[1;32m    The standby streams from the primary; Veche answers at https://%s/\033[0m\n\n' "$VECHE_DOMAIN"
    exit 0
  fi
  sleep 5
done
echo "the standby does not stream after 10 minutes: see scripts/deploy/status" >&2
exit 1
