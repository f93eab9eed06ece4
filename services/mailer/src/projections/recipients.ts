/**
 * The recipients read model: what the mailer knows of each user (address, name, locale, notification
 * preference), built from account events, because chat events name users by id only.
 */
import { sql, type Executor } from '@veche/db';
import type { Recipient } from '../domain/mails.ts';
import { tablesOf } from '../tables.ts';
import type {
  AccountEmailChanged,
  AccountProfileUpdated,
  AccountRegistered,
  NotifyPreference,
} from '../events.ts';

export async function recordRegistration(db: Executor<unknown>, data: AccountRegistered): Promise<void> {
  await sql`
    insert into recipients (user_id, email, display_name, locale, notify)
    values (${data.userId}, ${data.email}, ${data.displayName}, ${data.locale}, ${data.emailNotifications ?? null})
    on conflict (user_id) do update set
      email = excluded.email, display_name = excluded.display_name, locale = excluded.locale,
      notify = coalesce(excluded.notify, recipients.notify), updated_at = now()`.execute(db);
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
