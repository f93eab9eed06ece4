/**
 * The mailer's tables (schema `mailer`), for kysely: the columns as migrations/ makes them, so a
 * renamed column breaks the build wherever it is read or written through the query builder.
 */
import type { Kysely } from '@veche/db';
import type { ColumnType, Generated, Selectable } from 'kysely';
import type { LinkToken, MailCategory, MailKind } from './domain/mails.ts';
import type { NotifyPreference } from './events.ts';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A column with a default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export type MailState = 'queued' | 'sending' | 'sent' | 'deferred' | 'failed' | 'suppressed';

export interface HistoryEntry {
  attempt: number;
  at: string;
  outcome: 'sent' | 'deferred' | 'rejected' | 'exhausted' | 'interrupted' | 'suppressed';
  detail: string;
}

export interface MailsTable {
  id: string;
  idempotency_key: string;
  kind: MailKind;
  category: MailCategory;
  event_id: string;
  correlation_id: string | null;
  user_id: string | null;
  to_address: string;
  to_name: string;
  locale: string;
  subject: string;
  text_body: string;
  html_body: string;
  headers: Defaulted<Record<string, string>>;
  /** The sealed token of the mail's link; the bodies hold a placeholder in its place. */
  link_token: LinkToken | null;
  message_id: string;
  state: Defaulted<MailState>;
  attempts: Defaulted<number>;
  next_attempt_at: Defaulted<Date>;
  sending_since: Timestamp | null;
  relay_message_id: string | null;
  relay_response: string | null;
  failure: 'rejected' | 'exhausted' | null;
  last_error: string | null;
  history: Defaulted<HistoryEntry[]>;
  dead_lettered_at: Timestamp | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sent_at: Timestamp | null;
}

export interface SuppressionsTable {
  address: string;
  reason: string;
  mail_id: string | null;
  created_at: Generated<Date>;
}

export interface RecipientsTable {
  user_id: string;
  email: string;
  display_name: string;
  locale: string;
  notify: NotifyPreference | null;
  updated_at: Generated<Date>;
}

/** A choice made before the user's registration reached the mailer; the registration takes it. */
export interface EarlyPreferencesTable {
  user_id: string;
  notify: NotifyPreference;
  chosen_at: Generated<Date>;
}

/** A chat notification for a user whose registration has not reached the mailer yet. */
export interface NotificationsAwaitingRecipientTable {
  user_id: string;
  event_id: string;
  message: unknown;
  received_at: Generated<Date>;
}

export interface PendingNotificationsTable {
  user_id: string;
  event_id: string;
  room_id: string;
  seq: number;
  item: unknown;
  posted_at: Timestamp;
  due_at: Timestamp;
}

export interface ReadMarksTable {
  user_id: string;
  room_id: string;
  read_up_to: number;
}

export interface LogAlertMailsTable {
  alert_id: string;
  last_mailed_at: Timestamp | null;
  suppressed: Defaulted<number>;
  last_fired_at: Defaulted<Date>;
}

/** A type alias, not an interface: kysely's `$extendTables` wants an indexable record. */
export type MailerTables = {
  mails: MailsTable;
  suppressions: SuppressionsTable;
  recipients: RecipientsTable;
  early_preferences: EarlyPreferencesTable;
  notifications_awaiting_recipient: NotificationsAwaitingRecipientTable;
  pending_notifications: PendingNotificationsTable;
  read_marks: ReadMarksTable;
  log_alert_mails: LogAlertMailsTable;
};

/** A mail as stored. */
export type MailRow = Selectable<MailsTable>;

/** The mailer's tables on an executor that may be a transaction (the caller's choice). */
export const tablesOf = (db: Kysely<unknown>): Kysely<MailerTables> => db.$extendTables<MailerTables>();
