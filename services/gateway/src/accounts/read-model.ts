/** The account aggregate's state as commands read it: the accounts read model's row. */
import { sql, type Executor } from '@veche/db';
import { notFound } from '@veche/errors';
import type { AccountState, Role } from '../domain/account.ts';

export interface AccountRow {
  user_id: string;
  email: string;
  email_verified: boolean;
  password_hash: string | null;
  display_name: string;
  locale: 'en' | 'ru';
  time_zone: string;
  extension: string | null;
  role: Role;
  status: 'active' | 'disabled';
  version: number;
  created_at: Date;
}

export const toState = (row: AccountRow): AccountState => ({
  userId: row.user_id,
  email: row.email,
  emailVerified: row.email_verified,
  passwordHash: row.password_hash,
  displayName: row.display_name,
  locale: row.locale,
  timeZone: row.time_zone,
  extension: row.extension,
  role: row.role,
  status: row.status,
  version: row.version,
});

export async function accountById(db: Executor<unknown>, userId: string): Promise<AccountState | undefined> {
  const { rows } = await sql<AccountRow>`select * from accounts where user_id = ${userId}`.execute(db);
  return rows[0] ? toState(rows[0]) : undefined;
}

export async function accountByEmail(
  db: Executor<unknown>,
  email: string,
): Promise<AccountState | undefined> {
  const { rows } = await sql<AccountRow>`select * from accounts where lower(email) = lower(${email})`.execute(
    db,
  );
  return rows[0] ? toState(rows[0]) : undefined;
}

export async function requireAccount(db: Executor<unknown>, userId: string): Promise<AccountState> {
  const account = await accountById(db, userId);
  if (!account) throw notFound('No such user', { details: { userId } });
  return account;
}
