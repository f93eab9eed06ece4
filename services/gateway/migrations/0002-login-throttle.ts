/**
 * Failed password checks per key (client address, account, device, session), for the growing delays
 * that replace the hard lockout (ADR 0007). Throwaway state like `rate_limits`: not events.
 */
import { sql, type Migration } from '@veche/db';

export const loginThrottle: Migration = {
  async up(db) {
    await sql`
      create table login_throttle (
        key text primary key,
        failures integer not null,
        last_failure_at timestamptz not null,
        blocked_until timestamptz
      )`.execute(db);
    // Pruning finds the rows nobody failed on for a while.
    await sql`create index login_throttle_last_failure on login_throttle (last_failure_at)`.execute(db);
  },
};
