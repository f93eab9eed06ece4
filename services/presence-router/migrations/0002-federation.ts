/**
 * Federation (issue 20, ADR 0017). `federation_links`: the deployments an admin linked, with the shared
 * secret and, for the link's incoming side, the checkpoint in the other deployment's log up to which
 * every change has been applied here. `federation_watches`: which of their users each of our users
 * watches, per replica (so only those statuses travel). `remote_statuses`: the last status each of our
 * users was told about each watched remote user (their domain's privacy already applied).
 * Operational state, not events: the secret must never enter the log.
 */
import { sql, type Migration } from '@veche/db';

export const federationTables: Migration = {
  async up(db) {
    await sql`
      create table federation_links (
        domain text primary key,
        url text not null,
        secret text not null,
        checkpoint_tx xid8,
        checkpoint_pos bigint,
        last_batch_at timestamptz,
        lag_ms integer,
        connected boolean not null default false,
        linked_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table federation_watches (
        domain text not null,
        remote_user text not null,
        viewer text not null,
        replica_id text not null,
        primary key (domain, remote_user, viewer, replica_id)
      )`.execute(db);
    await sql`
      create table remote_statuses (
        domain text not null,
        remote_user text not null,
        viewer text not null,
        status smallint not null,
        raw_timestamp text,
        updated_at timestamptz not null default now(),
        primary key (domain, remote_user, viewer)
      )`.execute(db);
  },
};
