/**
 * A notification choice made before the user's `account.registered` reached the mailer (a client that
 * signs up and sets its preference at once): kept here until the registration takes it.
 */
import { sql, type Migration } from '@veche/db';

export const earlyPreferences: Migration = {
  async up(db) {
    await sql`
      create table early_preferences (
        user_id text primary key,
        notify text not null check (notify in ('immediately', 'digest', 'never')),
        chosen_at timestamptz not null default now()
      )`.execute(db);
  },
};
