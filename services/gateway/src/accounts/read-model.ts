/** The account aggregate's state as commands read it: the accounts read model's row. */
import type { Executor } from '@veche/db';
import { notFound } from '@veche/errors';
import type { AccountState } from '../domain/account.ts';
import { tablesOf, type AccountRow } from '../tables.ts';

/** The account's locale as the domain knows it (the column is free text, as the events are). */
export const localeOf = (locale: string): AccountState['locale'] => (locale === 'ru' ? 'ru' : 'en');

export const toState = (row: AccountRow): AccountState => ({
  userId: row.user_id,
  email: row.email,
  emailVerified: row.email_verified,
  passwordHash: row.password_hash,
  displayName: row.display_name,
  locale: localeOf(row.locale),
  timeZone: row.time_zone,
  extension: row.extension,
  role: row.role,
  status: row.status,
  version: row.version,
});

export async function accountById(db: Executor<unknown>, userId: string): Promise<AccountState | undefined> {
  const row = await tablesOf(db)
    .selectFrom('accounts')
    .selectAll()
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row ? toState(row) : undefined;
}

export async function accountByEmail(
  db: Executor<unknown>,
  email: string,
): Promise<AccountState | undefined> {
  const row = await tablesOf(db)
    .selectFrom('accounts')
    .selectAll()
    .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(email)])))
    .executeTakeFirst();
  return row ? toState(row) : undefined;
}

export async function requireAccount(db: Executor<unknown>, userId: string): Promise<AccountState> {
  const account = await accountById(db, userId);
  if (!account) throw notFound('No such user', { details: { userId } });
  return account;
}

/** The accounts among `userIds`, with their display names (what chat asks of a user it has not heard of). */
export async function knownAccounts(
  db: Executor<unknown>,
  userIds: readonly string[],
): Promise<{ userId: string; displayName: string }[]> {
  if (userIds.length === 0) return [];
  const rows = await tablesOf(db)
    .selectFrom('accounts')
    .select(['user_id', 'display_name'])
    .where('user_id', 'in', [...userIds])
    .execute();
  return rows.map((row) => ({ userId: row.user_id, displayName: row.display_name }));
}
