/**
 * The gateway's read models, all updated inline with the append that changes them (the API reads them
 * right after a write), and the rate-limit counters (not events: they are throwaway state).
 */
import { sql, type Migration } from '@veche/db';

export const accounts: Migration = {
  async up(db) {
    await sql`
      create table accounts (
        user_id text primary key,
        email text not null,
        email_verified boolean not null default false,
        password_hash text,
        display_name text not null,
        locale text not null,
        time_zone text not null,
        extension text,
        role text not null default 'user' check (role in ('user', 'admin')),
        status text not null default 'active' check (status in ('active', 'disabled')),
        version bigint not null,
        sessions_valid_after timestamptz,
        created_at timestamptz not null,
        updated_at timestamptz not null
      )`.execute(db);
    // The address compared case-insensitively; uniqueness is what makes a duplicate registration fail.
    await sql`create unique index accounts_email on accounts (lower(email))`.execute(db);
    await sql`create unique index accounts_extension on accounts (extension) where extension is not null`.execute(
      db,
    );
    await sql`create index accounts_display_name on accounts (lower(display_name) text_pattern_ops)`.execute(
      db,
    );
    // Mail tokens: only their SHA-256 is kept; used_at makes them single use.
    await sql`
      create table account_tokens (
        token_hash text primary key,
        purpose text not null check (purpose in ('verify', 'reset', 'email_change')),
        user_id text not null references accounts (user_id),
        new_email text,
        expires_at timestamptz not null,
        used_at timestamptz
      )`.execute(db);
    await sql`create index account_tokens_user on account_tokens (user_id, purpose)`.execute(db);
    await sql`
      create table sessions (
        session_id text primary key,
        user_id text not null references accounts (user_id),
        version bigint not null,
        generation integer not null,
        device text not null,
        ip text not null,
        created_at timestamptz not null,
        last_seen_at timestamptz not null,
        expires_at timestamptz not null,
        revoked_at timestamptz,
        revoked_reason text
      )`.execute(db);
    await sql`create index sessions_user on sessions (user_id) where revoked_at is null`.execute(db);
    // Every refresh token a session ever had, by hash: an old generation presented again is a reuse.
    await sql`
      create table refresh_tokens (
        token_hash text primary key,
        session_id text not null references sessions (session_id),
        generation integer not null
      )`.execute(db);
    await sql`create index refresh_tokens_session on refresh_tokens (session_id)`.execute(db);
    await sql`
      create table rate_limits (
        key text primary key,
        window_start timestamptz not null,
        hits integer not null
      )`.execute(db);
  },
};
