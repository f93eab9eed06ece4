#!/usr/bin/env bash
# Run once, by the official postgres entrypoint, when the primary's data folder is created: the shared
# replication settings, the replication role and its slot, and who may connect to replicate.
set -euo pipefail

echo "include '/etc/veche/postgres/veche-replication.conf'" >>"$PGDATA/postgresql.conf"
password=$(cat "${VECHE_PG_REPL_PASSWORD_FILE:-/run/secrets/pg_replication_password}")
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v repl_user="${VECHE_PG_REPL_USER:-replicator}" -v repl_password="$password" \
  -v slot="${VECHE_PG_SLOT:-veche_standby}" <<'SQL'
create role :"repl_user" with replication login password :'repl_password';
select pg_create_physical_replication_slot(:'slot');
SQL
# The standby (and pg_rewind, as the superuser) reach the primary over the stack's backend network.
echo "host replication ${VECHE_PG_REPL_USER:-replicator} 10.0.0.0/8 scram-sha-256" >>"$PGDATA/pg_hba.conf"
