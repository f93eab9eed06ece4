/**
 * The recipients read model: what the mailer knows of each user (address, name, locale, notification
 * preference), built from account events, because chat events name users by id only.
 */
import { sql, type Executor, type Kysely, type Transaction } from '@veche/db';
import type { Recipient } from '../domain/mails.ts';
import { tablesOf } from '../tables.ts';
import type {
  AccountEmailChanged,
  AccountProfileUpdated,
  AccountRegistered,
  ChatMessagePosted,
  NotifyPreference,
} from '../events.ts';

/**
 * Serialises, per user, the registration's arrival and a choice made meanwhile (both in a transaction):
 * whichever comes second sees what the first committed, so a choice is never left behind.
 */
const lockRecipient = (trx: Transaction<unknown>, userId: string) =>
  sql`select pg_advisory_xact_lock(hashtextextended(${`veche.mailer.recipient:${userId}`}, 0))`.execute(trx);

/** Records a registration; a notification choice the user made before it arrived wins over its own. */
export async function recordRegistration(trx: Transaction<unknown>, data: AccountRegistered): Promise<void> {
  await lockRecipient(trx, data.userId);
  await sql`
    with early as (delete from early_preferences where user_id = ${data.userId} returning notify)
    insert into recipients (user_id, email, display_name, locale, notify)
    values (${data.userId}, ${data.email}, ${data.displayName}, ${data.locale},
            coalesce((select notify from early), ${data.emailNotifications ?? null}))
    on conflict (user_id) do update set
      email = excluded.email, display_name = excluded.display_name, locale = excluded.locale,
      notify = coalesce(excluded.notify, recipients.notify), updated_at = now()`.execute(trx);
}

/**
 * The signed-in user's choice (the gateway vouched for them, so the account exists). When their
 * registration has not reached the mailer yet, the choice waits for it in `early_preferences`.
 */
export async function chooseNotifyPreference(
  db: Kysely<unknown>,
  userId: string,
  notify: NotifyPreference,
): Promise<'recorded' | 'early'> {
  return db.transaction().execute(async (trx) => {
    await lockRecipient(trx, userId);
    if (await setNotifyPreference(trx, userId, notify)) return 'recorded';
    await tablesOf(trx)
      .insertInto('early_preferences')
      .values({ user_id: userId, notify })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ notify, chosen_at: sql`now()` }))
      .execute();
    return 'early';
  });
}

/** Returns false when the user is unknown here (their registration never reached the mailer). */
export async function recordEmailChange(db: Executor<unknown>, data: AccountEmailChanged): Promise<boolean> {
  const result = await tablesOf(db)
    .updateTable('recipients')
    .set({ email: data.email, updated_at: sql`now()` })
    .where('user_id', '=', data.userId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function recordProfileUpdate(
  db: Executor<unknown>,
  data: AccountProfileUpdated,
): Promise<boolean> {
  const result = await sql`
    update recipients set
      display_name = coalesce(${data.displayName ?? null}, display_name),
      locale = coalesce(${data.locale ?? null}, locale),
      notify = coalesce(${data.emailNotifications ?? null}, notify),
      updated_at = now()
    where user_id = ${data.userId}`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

export async function setNotifyPreference(
  db: Executor<unknown>,
  userId: string,
  notify: NotifyPreference,
): Promise<boolean> {
  const result = await tablesOf(db)
    .updateTable('recipients')
    .set({ notify, updated_at: sql`now()` })
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function loadRecipients(
  db: Executor<unknown>,
  userIds: readonly string[],
): Promise<Map<string, Recipient>> {
  if (userIds.length === 0) return new Map();
  const rows = await tablesOf(db)
    .selectFrom('recipients')
    .select(['user_id', 'email', 'display_name', 'locale', 'notify'])
    .where('user_id', 'in', [...new Set(userIds)])
    .execute();
  return new Map(
    rows.map((r) => [
      r.user_id,
      {
        userId: r.user_id,
        email: r.email,
        displayName: r.display_name,
        locale: r.locale,
        notify: r.notify ?? undefined,
      },
    ]),
  );
}

/**
 * Holds a chat notification for each of `userIds` (not in the read model when the caller looked) whose
 * registration has still not committed: serialised with it per user, the registration then finds it
 * waiting. Returns the users it held it for; the others registered meanwhile (load them again). A
 * notification waits a day at most: a registration older than the mailer never comes.
 */
export async function holdForUnknownRecipients(
  trx: Transaction<unknown>,
  userIds: readonly string[],
  eventId: string,
  message: ChatMessagePosted,
): Promise<string[]> {
  const held: string[] = [];
  // Sorted: two events locking the same users take them in the same order.
  for (const userId of [...new Set(userIds)].sort()) {
    await lockRecipient(trx, userId);
    const known = await tablesOf(trx)
      .selectFrom('recipients')
      .select('user_id')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    if (known) continue;
    const forThem: ChatMessagePosted = {
      ...message,
      notify: message.notify.filter((n) => n.userId === userId),
    };
    await tablesOf(trx)
      .insertInto('notifications_awaiting_recipient')
      .values({ user_id: userId, event_id: eventId, message: JSON.stringify(forThem) })
      .onConflict((oc) => oc.columns(['user_id', 'event_id']).doNothing())
      .execute();
    held.push(userId);
  }
  return held;
}

/** How long a notification waits for its recipient's registration. */
const awaitingLimit = sql<Date>`now() - interval '1 day'`;

/** Forgets notifications received before `before` (the mailer's retention: a day ago, hourly). */
export async function pruneAwaitingNotifications(db: Kysely<unknown>, before: Date): Promise<number> {
  const result = await tablesOf(db)
    .deleteFrom('notifications_awaiting_recipient')
    .where('received_at', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Takes the notifications that waited for this user's registration (call after recording it). */
export async function takeAwaitingNotifications(
  trx: Transaction<unknown>,
  userId: string,
): Promise<{ eventId: string; message: ChatMessagePosted }[]> {
  const rows = await tablesOf(trx)
    .deleteFrom('notifications_awaiting_recipient')
    .where('user_id', '=', userId)
    .returning([
      'event_id',
      'message',
      'received_at',
      sql<boolean>`received_at >= ${awaitingLimit}`.as('fresh'),
    ])
    .execute();
  // One older than a day and not pruned yet (between two retention runs) is dropped as a pruned one is.
  return rows
    .filter((row) => row.fresh)
    .sort((a, b) => a.received_at.getTime() - b.received_at.getTime())
    .map((row) => ({ eventId: row.event_id, message: row.message as ChatMessagePosted }));
}
