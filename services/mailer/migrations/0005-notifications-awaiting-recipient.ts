/**
 * Chat notifications for a user whose `account.registered` has not reached the mailer yet (it comes by
 * another relay than chat's events: a direct message to someone who registered a moment ago). They
 * wait here for the registration, which sends or queues them as the user's preference says.
 */
import { sql, type Migration } from '@veche/db';

export const notificationsAwaitingRecipient: Migration = {
  async up(db) {
    await sql`
      create table notifications_awaiting_recipient (
        user_id text not null,
        event_id text not null,
        message jsonb not null,
        received_at timestamptz not null default now(),
        primary key (user_id, event_id)
      )`.execute(db);
    await sql`
      create index notifications_awaiting_recipient_by_age
        on notifications_awaiting_recipient (received_at)`.execute(db);
  },
};
