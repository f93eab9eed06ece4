/**
 * Kerberos (issue 20): which client principal is which account (a read model of the admin's
 * `account.kerberos_principals_set` events; the unique key is what refuses a principal to a second
 * account), and the Negotiate tokens already used, so a replayed one is refused on every replica
 * (MIT's replay cache is per host). Seen tokens are throwaway state, pruned after the skew window.
 */
import { sql, type Migration } from '@veche/db';

export const kerberos: Migration = {
  async up(db) {
    await sql`
      create table kerberos_principals (
        principal text primary key,
        user_id text not null,
        linked_at timestamptz not null
      )`.execute(db);
    await sql`create index kerberos_principals_user on kerberos_principals (user_id)`.execute(db);
    await sql`
      create table negotiate_tokens_seen (
        token_hash text primary key,
        seen_at timestamptz not null default now()
      )`.execute(db);
    await sql`create index negotiate_tokens_seen_at on negotiate_tokens_seen (seen_at)`.execute(db);
  },
};
