/**
 * What every replica must hear at once, sent with PostgreSQL NOTIFY from inside the transaction that
 * makes it true (so it is delivered exactly when it commits, in commit order, to every replica that
 * listens). A replica whose listening connection drops reloads what it serves from the tables instead
 * of trusting that it missed nothing.
 */
import { sql, type Transaction } from '@veche/db';
import type { PresenceStatusCode } from '@veche/contracts';

export type PresenceNotification =
  /** A status others are told (`t`: the raw timestamp, when the publication had one). */
  | { k: 'status'; u: string; v: number; s: PresenceStatusCode; t?: string }
  /** A user's privacy rules changed. */
  | { k: 'privacy'; u: string; v: number }
  /** The admins' groups or group rules changed. */
  | { k: 'groups'; v: number }
  /** A user's extension number changed (subscriptions by number follow it). */
  | { k: 'extension'; u: string; e: string | null; p: string | null }
  /** An account was disabled: its `/pubsub` connections close. */
  | { k: 'disabled'; u: string }
  /** A linked domain told what viewer `w` sees of its user `a` (`<userId>@<domain>`). */
  | { k: 'remote'; a: string; w: string; s: PresenceStatusCode; t?: string }
  /** Several of those at once: `[address, viewer, status, raw timestamp or null]` (a federation batch). */
  | { k: 'remotes'; c: [string, string, PresenceStatusCode, string | null][] };

export const notificationChannel = (schema: string): string => `${schema}.presence`;

export async function notify(
  trx: Transaction<unknown>,
  schema: string,
  notification: PresenceNotification,
): Promise<void> {
  await sql`select pg_notify(${notificationChannel(schema)}, ${JSON.stringify(notification)})`.execute(trx);
}
