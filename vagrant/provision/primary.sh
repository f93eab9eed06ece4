#!/usr/bin/env bash
# Provisioning of the primary VM after common.sh: the swarm (this node its first manager, holding the
# data: veche.storage=true), the join token for the standby, and the whole stack deployed with
# scripts/deploy/deploy. Ends by waiting until Veche answers over HTTPS and printing where.
# Idempotent (every step is, and deploy redeploys in place). Needs a booted system with Docker.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: vagrant/provision/primary.sh [--help]     (as root, on the primary VM; Vagrant runs it)

Environment: VECHE_CHECKOUT (the repository, default /home/ubuntu/veche), VECHE_DOMAIN (default: this
VM's address), VECHE_ACME_EMAIL, VECHE_ACME_STAGING (default 1). Writes /var/lib/veche/swarm-join
(the manager join command) for the standby.
USAGE
}
case "${1:-}" in -h | --help) usage; exit 0 ;; '') ;; *) usage >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
checkout=${VECHE_CHECKOUT:-/home/ubuntu/veche}

if ! docker info >/dev/null 2>&1; then
  say "skipped: no Docker engine answers (not a booted VM): no swarm, no stack"
  exit 0
fi

# The address the other VM and the browser use: the private network's (local providers), else the
# address of the default route (ESXi's LAN).
address=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | grep -E '^192\.168\.56\.' | head -n 1 || true)
[ -n "$address" ] || address=$(ip -4 route get 1.1.1.1 | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}')
export VECHE_ADVERTISE_ADDR=$address
export VECHE_DOMAIN=${VECHE_DOMAIN:-$address}
export VECHE_ACME_EMAIL=${VECHE_ACME_EMAIL:-replica@example.org}
export VECHE_ACME_STAGING=${VECHE_ACME_STAGING:-1}

step "deploying the stack from $checkout (domain $VECHE_DOMAIN)"
git config --global --add safe.directory "$checkout" 2>/dev/null || true
# The deployment scripts need some Node.js with npm (they install Node 24 into the checkout): ubuntu's,
# from nvm (common.sh).
# shellcheck source=/dev/null
export NVM_DIR=/home/ubuntu/.nvm && . "$NVM_DIR/nvm.sh" && nvm use --silent default
cd "$checkout"
# init (swarm, storage label, registry), secrets (generated), the stack check, build, deploy.
scripts/deploy/deploy

step "the join command for the standby (a second manager)"
mkdir -p /var/lib/veche
printf 'docker swarm join --token %s %s:2377\n' "$(docker swarm join-token -q manager)" "$address" \
  >/var/lib/veche/swarm-join.new
mv /var/lib/veche/swarm-join.new /var/lib/veche/swarm-join
chmod 0600 /var/lib/veche/swarm-join
say "written to /var/lib/veche/swarm-join"

step "waiting until Veche answers at https://$VECHE_DOMAIN/"
for _ in $(seq 1 180); do
  if curl -fsk --resolve "$VECHE_DOMAIN:443:$address" -o /dev/null "https://$VECHE_DOMAIN/api/health"; then
    printf '\n\033[1;32m    Veche is answering at https://%s/ (certificate: self-signed until Let'"'"'s Encrypt staging issues one)\033[0m\n\n' "$VECHE_DOMAIN"
    exit 0
  fi
  sleep 5
done
echo "Veche did not answer within 15 minutes: see scripts/deploy/status" >&2
exit 1
