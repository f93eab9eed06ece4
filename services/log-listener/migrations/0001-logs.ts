/**
 * The log-listener's tables: `sources` (projection of its event log), `deleted_sources` (whose lines
 * are still being removed), `source_counters`, and `log_lines`, partitioned by day of arrival so
 * retention drops whole partitions. See src/tables.ts for the columns.
 */
import { sql, type Migration } from '@veche/db';

export const logsTables: Migration = {
  async up(db) {
    await sql`
      create table sources (
        source_id uuid primary key,
        version integer not null,
        owner_id text not null,
        name text not null,
        time_zone text not null,
        allowed_ips text[] not null default '{}',
        tls boolean not null,
        retention_days integer not null,
        port integer not null unique,
        created_at timestamptz not null
      )`.execute(db);
    await sql`create index sources_by_owner on sources (owner_id, created_at)`.execute(db);
    await sql`
      create table deleted_sources (
        source_id uuid primary key,
        deleted_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table source_counters (
        source_id uuid primary key,
        received bigint not null default 0,
        rejected_connections bigint not null default 0,
        truncated bigint not null default 0,
        invalid_utf8 bigint not null default 0,
        dropped bigint not null default 0,
        closed_connections bigint not null default 0,
        last_received_at timestamptz
      )`.execute(db);
    await sql`create sequence log_line_ids`.execute(db);
    await sql`
      create table log_lines (
        id bigint not null default nextval('log_line_ids'),
        source_id uuid not null,
        received_at timestamptz not null,
        created_at timestamptz not null,
        sender_ip text not null,
        file_name text not null,
        message text not null,
        severity smallint,
        facility smallint,
        hostname text,
        app_name text,
        truncated boolean not null default false,
        invalid_utf8 boolean not null default false
      ) partition by range (received_at)`.execute(db);
    await sql`create index log_lines_by_source on log_lines (source_id, id)`.execute(db);
  },
};
