/** When each log alert last mailed its owner, and how many firings the cool-down held back since. */
import { sql, type Migration } from '@veche/db';

export const logAlertMails: Migration = {
  async up(db) {
    await sql`
      create table log_alert_mails (
        alert_id uuid primary key,
        last_mailed_at timestamptz,
        suppressed integer not null default 0,
        last_fired_at timestamptz not null default now()
      )`.execute(db);
  },
};
