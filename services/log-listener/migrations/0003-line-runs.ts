/**
 * Commit-ordered reading of stored lines for the alert evaluator. Line ids come from one sequence but
 * batches commit in any order (two replicas, or two writes of one), so "ids above the last one read"
 * misses a line committed later with a lower id. Each batch's transaction therefore also records, per
 * source, the runs of ids it stored (`line_runs`, stamped with its transaction id); a reader takes the
 * runs in (transaction_id, position) order up to its snapshot's xmin, the event store's technique, so
 * no transaction still running can later add a run before its cursor. `alert_cursors` holds, per
 * alert, the last run its previous firing counted (written in the firing's transaction).
 */
import { sql, type Migration } from '@veche/db';

export const logsLineRuns: Migration = {
  async up(db) {
    await sql`
      create table line_runs (
        transaction_id xid8 not null default pg_current_xact_id(),
        position bigint generated always as identity,
        source_id uuid not null,
        first_id bigint not null,
        last_id bigint not null,
        received_from timestamptz not null,
        received_to timestamptz not null
      )`.execute(db);
    await sql`create index line_runs_by_source on line_runs (source_id, transaction_id, position)`.execute(
      db,
    );
    await sql`create index line_runs_by_age on line_runs (received_to)`.execute(db);
    await sql`
      create table alert_cursors (
        alert_id uuid primary key,
        transaction_id xid8 not null,
        position bigint not null
      )`.execute(db);
    // Alerts that exist already watch what commits from now on.
    await sql`
      insert into alert_cursors (alert_id, transaction_id, position)
      select alert_id, pg_snapshot_xmin(pg_current_snapshot()), 0 from alerts`.execute(db);
  },
};
