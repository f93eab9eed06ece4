/**
 * The chat's read models (inline projections of the event log, so the API reads its own writes), the
 * attachment files' metadata, the users directory fed by account events, and the bot command registry.
 */
import { sql, type Migration } from '@veche/db';

export const chatTables: Migration = {
  async up(db) {
    await sql`
      create table rooms (
        id text primary key,
        kind text not null check (kind in ('public', 'private', 'dm')),
        name text not null,
        topic text not null default '',
        created_by text not null,
        created_at timestamptz not null,
        archived boolean not null default false,
        last_seq integer not null default 0,
        dm_key text unique
      )`.execute(db);
    await sql`create index rooms_public on rooms (created_at) where kind = 'public'`.execute(db);
    await sql`
      create table members (
        room_id text not null references rooms (id),
        user_id text not null,
        role text not null check (role in ('owner', 'moderator', 'member')),
        joined_at timestamptz not null,
        joined_seq integer not null,
        primary key (room_id, user_id)
      )`.execute(db);
    await sql`create index members_by_user on members (user_id)`.execute(db);
    await sql`
      create table messages (
        room_id text not null,
        seq integer not null,
        id text not null unique,
        sender_id text not null,
        text text not null,
        reply_to text,
        mentions text[] not null default '{}',
        attachments jsonb not null default '[]',
        idempotency_key text not null,
        sent_at timestamptz not null,
        edited_at timestamptz,
        deleted_at timestamptz,
        search tsvector generated always as (to_tsvector('simple', text)) stored,
        primary key (room_id, seq),
        unique (room_id, sender_id, idempotency_key)
      )`.execute(db);
    await sql`create index messages_search on messages using gin (search)`.execute(db);
    await sql`
      create table reactions (
        message_id text not null,
        user_id text not null,
        emoji text not null,
        seq integer not null,
        primary key (message_id, user_id, emoji)
      )`.execute(db);
    await sql`
      create table mentions (
        user_id text not null,
        room_id text not null,
        seq integer not null,
        primary key (user_id, room_id, seq)
      )`.execute(db);
    await sql`
      create table receipts (
        room_id text not null,
        user_id text not null,
        delivered_up_to integer not null default 0,
        read_up_to integer not null default 0,
        updated_at timestamptz not null default now(),
        primary key (room_id, user_id)
      )`.execute(db);
    await sql`
      create table users (
        id text primary key,
        display_name text not null,
        updated_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table user_activity (
        user_id text primary key,
        last_active_at timestamptz not null
      )`.execute(db);
    await sql`
      create table attachments (
        id text primary key,
        room_id text not null,
        uploader_id text not null,
        filename text not null,
        content_type text not null,
        size bigint not null,
        sha256 text not null,
        has_thumbnail boolean not null,
        created_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table bot_commands (
        name text primary key,
        bot_id text not null,
        description text not null,
        registered_at timestamptz not null default now()
      )`.execute(db);
    await sql`
      create table bot_command_requests (
        command_id text primary key,
        room_id text not null,
        bot_id text not null,
        replies integer not null default 0,
        issued_at timestamptz not null
      )`.execute(db);
  },
  async down(db) {
    for (const table of [
      'bot_command_requests',
      'bot_commands',
      'attachments',
      'user_activity',
      'users',
      'receipts',
      'mentions',
      'reactions',
      'messages',
      'members',
      'rooms',
    ]) {
      await sql`drop table if exists ${sql.id(table)}`.execute(db);
    }
  },
};
