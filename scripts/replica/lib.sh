# shellcheck shell=bash
# Shared by scripts/failover, scripts/failback, scripts/restore-drill, scripts/backup and
# scripts/replica/*: how to reach each PostgreSQL node, whichever way they run (the "driver").
#
#   VECHE_PG_DRIVER=swarm (default)  the stack's `postgres` (primary role) and `postgres-standby`
#       services; the roles follow the node labels (veche.storage=true: the primary and every volume;
#       veche.pg=standby: the standby), so a failover relabels the nodes and redeploys the stack. Run on a swarm manager; containers on the other node are
#       reached with `docker -H ssh://$VECHE_SSH_USER@<node address>`.
#   VECHE_PG_DRIVER=local  clusters on this host, each `name=<data folder>:<port>` in
#       VECHE_PG_LOCAL_NODES (e.g. "a=/srv/pg/a:5433 b=/srv/pg/b:5434"); the services connect through
#       the socket folder VECHE_PG_ENDPOINT, whose .s.PGSQL.5432 is a link to the primary's socket, so a
#       failover repoints them by replacing one link. Tests, benches and single-host rehearsals use it.
#
# Node names: swarm `postgres` / `postgres-standby` (services); local: the names in VECHE_PG_LOCAL_NODES.

export replica_root
replica_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VECHE_PG_DRIVER=${VECHE_PG_DRIVER:-swarm}
VECHE_STACK=${VECHE_STACK:-veche}
VECHE_PG_SLOT=${VECHE_PG_SLOT:-veche_standby}
VECHE_PG_APP_NAME=${VECHE_PG_APP_NAME:-veche_standby}
VECHE_PG_REPL_USER=${VECHE_PG_REPL_USER:-replicator}

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
warn() { printf '\033[1;33m[warn]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[error]\033[0m %s\n' "$*" >&2; exit 1; }

# Milliseconds since the epoch, for the figures the scripts print.
now_ms() { date +%s%3N; }

# In a dry run, say what a changing command would do instead of doing it.
dry_run=${dry_run:-0}
act() {
  # To stderr: a changing command's own output is often discarded by its caller, its announcement must not be.
  if [ "$dry_run" = 1 ]; then say "[dry run] would run: $*" >&2; else "$@"; fi
}

# ---- local driver ----------------------------------------------------------------------------------

local_pg_bin() {
  if [ -n "${VECHE_PG_BIN:-}" ]; then printf '%s' "$VECHE_PG_BIN"; return; fi
  local newest
  newest=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort -V | tail -n 1)
  [ -n "$newest" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql (set VECHE_PG_BIN)"
  printf '%s/bin' "$newest"
}

# The data folder or port of a local node: local_node NAME data|port
local_node() {
  local entry spec
  for entry in ${VECHE_PG_LOCAL_NODES:?set VECHE_PG_LOCAL_NODES (name=data:port …) for the local driver}; do
    if [ "${entry%%=*}" = "$1" ]; then
      spec=${entry#*=}
      case "$2" in data) printf '%s' "${spec%:*}" ;; port) printf '%s' "${spec##*:}" ;; esac
      return 0
    fi
  done
  die "no node named $1 in VECHE_PG_LOCAL_NODES"
}

local_nodes() {
  local entry
  for entry in ${VECHE_PG_LOCAL_NODES:?set VECHE_PG_LOCAL_NODES}; do printf '%s\n' "${entry%%=*}"; done
}

# PostgreSQL refuses to run as root: the server-side programs run as the data folder's owner.
as_owner() {
  local data=$1 owner
  shift
  owner=$(stat -c %U "$data")
  if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
    runuser -u "$owner" -- env PATH="$(local_pg_bin):$PATH" "$@"
  else
    env PATH="$(local_pg_bin):$PATH" "$@"
  fi
}

# Each local node's socket lives in its data folder's parent's `run` folder, beside its log.
local_socket_dir() { printf '%s/run' "$(dirname "$(local_node "$1" data)")"; }
local_log() { printf '%s/postgres.log' "$(dirname "$(local_node "$1" data)")"; }

# ---- swarm driver ----------------------------------------------------------------------------------

VECHE_SSH_USER=${VECHE_SSH_USER:-ubuntu}

# `docker` aimed at the node that runs the service's task (this node, or another over SSH).
swarm_task_docker() { # service -> prints "container-id" after setting swarm_docker_host
  local service=${VECHE_STACK}_$1 task node self addr
  task=$(docker service ps "$service" --filter desired-state=running -q --no-trunc 2>/dev/null | head -n 1)
  [ -n "$task" ] || return 1
  node=$(docker inspect --format '{{.NodeID}}' "$task")
  self=$(docker info --format '{{.Swarm.NodeID}}')
  swarm_docker_host=()
  if [ "$node" != "$self" ]; then
    addr=$(docker node inspect --format '{{.Status.Addr}}' "$node")
    swarm_docker_host=(-H "ssh://$VECHE_SSH_USER@$addr")
  fi
  docker inspect --format '{{.Status.ContainerStatus.ContainerID}}' "$task"
}

swarm_exec() { # service command...
  local service=$1 container
  shift
  container=$(swarm_task_docker "$service") || return 1
  docker "${swarm_docker_host[@]}" exec -u postgres "$container" "$@"
}

# The node holding a role: primary = the one labelled veche.storage=true (the stack pins PostgreSQL,
# the uploads and the other volumes to it: VECHE_DATA_NODE), standby = the one labelled veche.pg=standby.
swarm_node_of_role() { # primary|standby -> node id
  case "$1" in
    primary) docker node ls -q --filter node.label=veche.storage=true | head -n 1 ;;
    standby) docker node ls -q --filter node.label=veche.pg=standby | head -n 1 ;;
  esac
}

# ---- the operations, for both drivers ----------------------------------------------------------------

# psql on a node, unaligned, tuples only; a short connect timeout so a dead node answers quickly.
# Several statements run in one session (one process to start: it counts on a loaded machine).
pg_sql() { # node sql [sql…]
  local node=$1 statement commands=()
  shift
  for statement in "$@"; do commands+=(-c "$statement"); done
  case "$VECHE_PG_DRIVER" in
    local)
      PGCONNECT_TIMEOUT=3 as_owner "$(local_node "$node" data)" psql -X -A -t -q -v ON_ERROR_STOP=1 \
        -h "$(local_socket_dir "$node")" -p "$(local_node "$node" port)" -U "${VECHE_PG_SUPERUSER:-postgres}" \
        -d postgres "${commands[@]}"
      ;;
    swarm) swarm_exec "$node" psql -X -A -t -q -v ON_ERROR_STOP=1 -U "${VECHE_PG_SUPERUSER:-veche}" -d postgres "${commands[@]}" ;;
    *) die "VECHE_PG_DRIVER must be swarm or local, not $VECHE_PG_DRIVER" ;;
  esac
}

pg_alive() { pg_sql "$1" 'select 1' >/dev/null 2>&1; }

# t when the node is a standby (in recovery), f when it is a primary; fails when it does not answer.
pg_in_recovery() { pg_sql "$1" 'select pg_is_in_recovery()'; }

pg_start() {
  case "$VECHE_PG_DRIVER" in
    local)
      local data
      data=$(local_node "$1" data)
      mkdir -p "$(local_socket_dir "$1")"
      chown "$(stat -c %U "$data")" "$(local_socket_dir "$1")"
      act as_owner "$data" pg_ctl -D "$data" -l "$(local_log "$1")" -w -t 120 \
        -o "-p $(local_node "$1" port) -k $(local_socket_dir "$1") -c listen_addresses=127.0.0.1" start >/dev/null
      ;;
    swarm) act docker service scale --detach "${VECHE_STACK}_$1=1" >/dev/null ;;
  esac
}

# Stops a node for good: fast (clean) for a planned switch-over, immediate otherwise.
pg_stop() { # node fast|immediate
  case "$VECHE_PG_DRIVER" in
    local)
      local data
      data=$(local_node "$1" data)
      if as_owner "$data" pg_ctl -D "$data" status >/dev/null 2>&1; then
        # A server that dies meanwhile (it was just killed) cannot be signalled: that is stopped too.
        act as_owner "$data" pg_ctl -D "$data" -m "$2" -w -t 60 --silent stop \
          || ! as_owner "$data" pg_ctl -D "$data" status >/dev/null 2>&1 \
          || die "could not stop $1 (pg_ctl stop failed and it still runs)"
      fi
      ;;
    swarm) act swarm_exec "$1" pg_ctl -D /var/lib/postgresql/data -m "$2" -w stop >/dev/null || true ;;
  esac
}

# Promotes a standby and turns synchronous commit off on it (no standby is left to wait for), in one
# session: pg_promote waits until the server takes writes.
pg_promote() {
  act pg_sql "$1" 'select pg_promote(true, 60)' "alter system set synchronous_standby_names = ''" \
    'select pg_reload_conf()' >/dev/null
}

# Where a standby of this node connects (host port), as seen from the other node.
pg_replication_address() {
  case "$VECHE_PG_DRIVER" in
    local) printf '127.0.0.1 %s' "$(local_node "$1" port)" ;;
    swarm) printf '%s 5432' "$1" ;;
  esac
}

# Synchronous commit on (the standby's application_name) or off, persisted with ALTER SYSTEM.
pg_set_sync() { # node on|off
  local names=''
  [ "$2" = on ] && names="\"$VECHE_PG_APP_NAME\""
  act pg_sql "$1" "alter system set synchronous_standby_names = '$names'" 'select pg_reload_conf()' >/dev/null
}

# The replication state as the primary sees it: one line per standby.
pg_replication_report() {
  pg_sql "$1" "select application_name || ' ' || state || ' ' || sync_state
      || ' lag ' || coalesce(pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), '?')
      || ' replay ' || coalesce(extract(epoch from replay_lag)::numeric(10,3)::text || ' s', '0 s')
    from pg_stat_replication"
}

# ---- off-site backups (scripts/backup, scripts/restore-drill) ----------------------------------------

backup_state=${VECHE_BACKUP_STATE:-/var/lib/veche-backup}
export PGBACKREST_CONFIG=${PGBACKREST_CONFIG:-$backup_state/pgbackrest.conf}
VECHE_PGBACKREST_STANZA=${VECHE_PGBACKREST_STANZA:-veche}
backup_user=${VECHE_BACKUP_SFTP_USER:-backup}
backup_port=${VECHE_BACKUP_SFTP_PORT:-22}
backup_key=${VECHE_BACKUP_SSH_KEY_FILE:-/run/secrets/backup_ssh_key}
backup_path=${VECHE_BACKUP_SFTP_PATH:-/backup}

# The one SSH command line both restic and sshfs use: key, port, the account's known host key.
backup_ssh_options() {
  printf -- '-o IdentityFile=%s -o IdentitiesOnly=yes -o Port=%s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=accept-new -o BatchMode=yes -o ServerAliveInterval=15' \
    "$backup_key" "$backup_port" "$backup_state/known_hosts"
}

# pgBackRest reaches the account natively from 2.46 on; older ones get it mounted with sshfs.
pgbackrest_has_sftp() {
  local version
  version=$(pgbackrest version | awk '{print $2}')
  [ "$(printf '%s\n2.46\n' "$version" | sort -V | head -n 1)" = 2.46 ]
}

# Writes pgbackrest.conf (and mounts the account when needed); safe to repeat.
backup_configure() {
  : "${VECHE_BACKUP_SFTP_HOST:?set VECHE_BACKUP_SFTP_HOST, the off-site SFTP server (see docs/operations.md, Backup)}"
  command -v pgbackrest >/dev/null 2>&1 || die "pgbackrest is not installed (apt-get install pgbackrest)"
  [ -r "$backup_key" ] || die "no SSH key for the backup account at $backup_key (VECHE_BACKUP_SSH_KEY_FILE)"
  mkdir -p "$backup_state"
  local mode=${VECHE_BACKUP_SFTP_MODE:-auto}
  if [ "$mode" = auto ]; then
    if pgbackrest_has_sftp; then mode=native; else mode=sshfs; fi
  fi
  if [ "$mode" = sshfs ]; then
    export VECHE_BACKUP_SFTP_MOUNT=${VECHE_BACKUP_SFTP_MOUNT:-$backup_state/sftp}
    mkdir -p "$VECHE_BACKUP_SFTP_MOUNT"
    if ! mountpoint -q "$VECHE_BACKUP_SFTP_MOUNT"; then
      command -v sshfs >/dev/null 2>&1 || die "pgBackRest $(pgbackrest version | awk '{print $2}') has no SFTP support and sshfs is not installed (apt-get install sshfs)"
      say "mounting $backup_user@$VECHE_BACKUP_SFTP_HOST:/ at $VECHE_BACKUP_SFTP_MOUNT (sshfs: this pgBackRest has no SFTP support)"
      # shellcheck disable=SC2046 # the options are words on purpose
      sshfs "$backup_user@$VECHE_BACKUP_SFTP_HOST:/" "$VECHE_BACKUP_SFTP_MOUNT" \
        -o allow_other,reconnect,workaround=rename $(backup_ssh_options) \
        || die "could not mount the backup account over SFTP"
    fi
    mkdir -p "$VECHE_BACKUP_SFTP_MOUNT$backup_path/pgbackrest"
  else
    unset VECHE_BACKUP_SFTP_MOUNT
  fi
  "$replica_root/replica/bin/veche-pgbackrest-conf" >"$PGBACKREST_CONFIG.new"
  mv "$PGBACKREST_CONFIG.new" "$PGBACKREST_CONFIG"
  chmod 0644 "$PGBACKREST_CONFIG"
}

backup_unmount() {
  if [ -n "${VECHE_BACKUP_SFTP_MOUNT:-}" ] && mountpoint -q "$VECHE_BACKUP_SFTP_MOUNT"; then
    fusermount -u "$VECHE_BACKUP_SFTP_MOUNT" 2>/dev/null || umount "$VECHE_BACKUP_SFTP_MOUNT"
  fi
}

# pgBackRest as the owner of the data folder (it must read PGDATA and write what PostgreSQL reads).
pgbr() {
  local data=${PGDATA:-/var/lib/postgresql/data}
  if [ "$(id -u)" = 0 ] && [ -d "$data" ] && [ "$(stat -c %U "$data")" != root ]; then
    runuser -u "$(stat -c %U "$data")" -- pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$VECHE_PGBACKREST_STANZA" "$@"
  else
    pgbackrest --config="$PGBACKREST_CONFIG" --stanza="$VECHE_PGBACKREST_STANZA" "$@"
  fi
}

# restic on the same account: sftp:<user>@<host>:<path>/restic, password from RESTIC_PASSWORD_FILE.
resticr() {
  command -v restic >/dev/null 2>&1 || die "restic is not installed (apt-get install restic)"
  : "${RESTIC_PASSWORD_FILE:?set RESTIC_PASSWORD_FILE, the password of the uploads repository}"
  mkdir -p "$backup_state/restic-cache"
  restic --repo "sftp:$backup_user@$VECHE_BACKUP_SFTP_HOST:$backup_path/restic" \
    --cache-dir "$backup_state/restic-cache" \
    --option sftp.command="ssh $(backup_ssh_options) $backup_user@$VECHE_BACKUP_SFTP_HOST -s sftp" "$@"
}
