/**
 * The live tail's catch-up (`after=`) reads in commit order through `line_runs`, as the alert
 * evaluator does. A reader gives the last line it saw; what it may not have seen is every line whose
 * transaction had not committed when that line's transaction was about to commit. So each run also
 * records the snapshot its transaction took then (`snapshot`): a run whose transaction id is not
 * visible in it committed later. `line_runs_by_last_id` finds the run that holds a given line.
 */
import { sql, type Migration } from '@veche/db';

export const logsLineRunsSnapshot: Migration = {
  async up(db) {
    // Null for runs written before: a catch-up from one of their lines reads by id, as it used to.
    await sql`alter table line_runs add column snapshot pg_snapshot`.execute(db);
    await sql`create index line_runs_by_last_id on line_runs (source_id, last_id)`.execute(db);
  },
};
