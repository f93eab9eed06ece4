/**
 * The mail outbox: every mail the mailer decided to send, its rendered content and its delivery state;
 * the suppression list; the recipients read model; the notifications waiting for their digest.
 */
import { sql, type Migration } from '@veche/db';

export const mailOutbox: Migration = {
  async up(db) {
    await sql`
      create table mails (
        id text primary key,
        idempotency_key text not null unique,
        kind text not null,
        category text not null check (category in ('security', 'notification')),
        event_id text not null,
        correlation_id text,
        user_id text,
        to_address text not null,
        to_name text not null,
        locale text not null,
        subject text not null,
        text_body text not null,
        html_body text not null,
        headers jsonb not null default '{}',
        message_id text not null,
        state text not null default 'queued'
          check (state in ('queued', 'sending', 'sent', 'deferred', 'failed', 'suppressed')),
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now(),
        sending_since timestamptz,
        relay_message_id text,
        relay_response text,
        failure text check (failure in ('rejected', 'exhausted')),
        last_error text,
        history jsonb not null default '[]',
        dead_lettered_at timestamptz,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(),
        sent_at timestamptz
      )`.execute(db);
    await sql`create index mails_due on mails (next_attempt_at) where state in ('queued', 'deferred')`.execute(
      db,
    );
    await sql`create index mails_sending on mails (sending_since) where state = 'sending'`.execute(db);
    await sql`create index mails_undead on mails (id) where failure = 'exhausted' and dead_lettered_at is null`.execute(
      db,
    );
    await sql`create index mails_by_state on mails (state, created_at desc)`.execute(db);
    await sql`create index mails_by_address on mails (lower(to_address), created_at desc)`.execute(db);
    await sql`create index mails_by_event on mails (event_id)`.execute(db);

    await sql`
      create table suppressions (
        address text primary key,
        reason text not null,
        mail_id text,
        created_at timestamptz not null default now()
      )`.execute(db);

    await sql`
      create table recipients (
        user_id text primary key,
        email text not null,
        display_name text not null,
        locale text not null,
        notify text check (notify in ('immediately', 'digest', 'never')),
        updated_at timestamptz not null default now()
      )`.execute(db);

    await sql`
      create table pending_notifications (
        user_id text not null,
        event_id text not null,
        room_id text not null,
        seq integer not null,
        item jsonb not null,
        posted_at timestamptz not null,
        due_at timestamptz not null,
        primary key (user_id, event_id)
      )`.execute(db);
    await sql`create index pending_notifications_due on pending_notifications (due_at)`.execute(db);
    await sql`create index pending_notifications_room on pending_notifications (user_id, room_id, seq)`.execute(
      db,
    );

    // Receipts can overtake the message they cover (separate events, at-least-once delivery): a
    // message already read when it arrives must not be queued for a digest.
    await sql`
      create table read_marks (
        user_id text not null,
        room_id text not null,
        read_up_to integer not null,
        primary key (user_id, room_id)
      )`.execute(db);
  },
};
