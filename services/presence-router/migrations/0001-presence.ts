/**
 * The presence-router's tables: projections of its event log, the live connections and replicas, the
 * directory fed by account events, and the WAMP watches. See src/tables.ts for what each column means.
 */
import { sql, type Migration } from '@veche/db';

export const presenceTables: Migration = {
  async up(db) {
    await sql`
      create table statuses (
        user_id text primary key,
        version integer not null,
        status smallint not null check (status between 1 and 8),
        chosen smallint check (chosen between 1 and 8),
        chosen_timestamp text,
        status_timestamp text,
        changed_at timestamptz not null
      )`.execute(db);
    await sql`
      create table status_history (
        user_id text not null,
        version integer not null,
        status smallint not null,
        cause text not null,
        at timestamptz not null,
        primary key (user_id, version)
      )`.execute(db);
    await sql`create index status_history_by_status on status_history (user_id, status, version desc)`.execute(
      db,
    );
    await sql`
      create table privacy (
        user_id text primary key,
        version integer not null,
        mode text not null check (mode in ('everyone', 'blacklist', 'whitelist')),
        users text[] not null default '{}'
      )`.execute(db);
    await sql`create table groups (name text primary key, members text[] not null default '{}')`.execute(db);
    await sql`
      create table group_rules (
        viewer_group text not null,
        target_group text not null,
        primary key (viewer_group, target_group)
      )`.execute(db);
    await sql`
      create table directory (
        user_id text primary key,
        version integer not null,
        extension text unique,
        disabled boolean not null default false,
        updated_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table replicas (
        replica_id text primary key,
        heartbeat_at timestamptz not null,
        started_at timestamptz not null
      )`.execute(db);
    await sql`
      create table connections (
        connection_id text primary key,
        user_id text not null,
        kind text not null check (kind in ('pubsub', 'ws')),
        replica_id text,
        opened_at timestamptz not null default now()
      )`.execute(db);
    await sql`create index connections_by_user on connections (user_id)`.execute(db);
    await sql`create index connections_by_replica on connections (replica_id) where replica_id is not null`.execute(
      db,
    );
    await sql`
      create table ended_sessions (
        connection_id text primary key,
        ended_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table activity (
        user_id text primary key,
        last_active_at timestamptz not null,
        offline_since timestamptz
      )`.execute(db);
    await sql`
      create table watches (
        watcher_id text not null,
        target text not null,
        kind text not null check (kind in ('user', 'extension', 'pattern')),
        created_at timestamptz not null default now(),
        primary key (watcher_id, target)
      )`.execute(db);
    await sql`create index watches_by_target on watches (target) where kind <> 'pattern'`.execute(db);
    await sql`create index watches_patterns on watches (watcher_id) where kind = 'pattern'`.execute(db);
  },
};
