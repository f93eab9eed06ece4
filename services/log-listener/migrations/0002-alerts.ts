/**
 * Alerts: `alerts`, the projection of the `logalert-<alertId>` streams (settings, and how far the
 * alert has fired: `fired_up_to_id`, the newest line a firing counted).
 */
import { sql, type Migration } from '@veche/db';

export const logsAlerts: Migration = {
  async up(db) {
    await sql`
      create table alerts (
        alert_id uuid primary key,
        version integer not null,
        source_id uuid not null,
        owner_id text not null,
        name text not null,
        filter jsonb not null,
        threshold integer not null,
        window_seconds integer not null,
        cool_down_seconds integer not null,
        enabled boolean not null,
        created_at timestamptz not null,
        firings integer not null default 0,
        last_fired_at timestamptz,
        fired_up_to_id bigint not null
      )`.execute(db);
    await sql`create index alerts_by_source on alerts (source_id, created_at)`.execute(db);
  },
};
