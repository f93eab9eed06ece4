/**
 * Kills that survive a refusal, a lost answer, a router or a gateway restart: a `wamp_sessions` row
 * stays until the router confirms its session ended (or is gone), and carries its own retry schedule
 * (wamp-sessions.ts). `created_at` tells a session that has not joined yet (the authenticator records
 * it before the router's WELCOME) from one that is gone.
 */
import { sql, type Migration } from '@veche/db';

export const wampSessionKills: Migration = {
  async up(db) {
    await sql`
      alter table wamp_sessions
        add column created_at timestamptz not null default now(),
        add column kill_attempts integer not null default 0,
        add column next_kill_at timestamptz`.execute(db);
    await sql`create index wamp_sessions_user on wamp_sessions (user_id)`.execute(db);
  },
};
