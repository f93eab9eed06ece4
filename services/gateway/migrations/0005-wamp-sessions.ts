/**
 * The live WAMP sessions of each account session, as the authenticator admitted them: the router
 * checks a ticket only at join, so the gateway ends a session itself (`wamp.session.kill`) when its
 * account session ends or its access token expires. Throwaway state, like `rate_limits`: not events;
 * a row lives at most one access-token lifetime.
 */
import { sql, type Migration } from '@veche/db';

export const wampSessions: Migration = {
  async up(db) {
    await sql`
      create table wamp_sessions (
        wamp_session_id bigint primary key,
        session_id text not null,
        user_id text not null,
        expires_at timestamptz not null
      )`.execute(db);
    await sql`create index wamp_sessions_session on wamp_sessions (session_id)`.execute(db);
    await sql`create index wamp_sessions_expiry on wamp_sessions (expires_at)`.execute(db);
  },
};
