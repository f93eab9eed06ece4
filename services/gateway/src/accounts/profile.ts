/** The signed-in user's own account: reading it, the profile, the e-mail address; and finding others. */
import { conflict, notFound, validationError } from '@veche/errors';
import {
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  type ProfileChange,
} from '../domain/account.ts';
import { execute } from './append.ts';
import { ok, type AccountsContext, type Principal, type RequestContext } from './context.ts';
import { liveToken, mailToken } from './mail-links.ts';
import { checkPasswordAgain } from './passwords.ts';
import { tablesOf } from '../tables.ts';
import { accountByEmail, localeOf, requireAccount } from './read-model.ts';

export async function me(c: AccountsContext, userId: string) {
  const row = await tablesOf(c.db)
    .selectFrom('accounts')
    .selectAll()
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!row) throw notFound('No such user');
  return {
    userId: row.user_id,
    email: row.email,
    emailVerified: row.email_verified,
    displayName: row.display_name,
    locale: localeOf(row.locale),
    timeZone: row.time_zone,
    extension: row.extension,
    role: row.role,
    createdAt: row.created_at.toISOString(),
  };
}

export async function updateProfile(
  c: AccountsContext,
  principal: Principal,
  input: ProfileChange,
  ctx: RequestContext,
) {
  const account = await requireAccount(c.db, principal.userId);
  const change: ProfileChange = {};
  if (input.displayName !== undefined) change.displayName = normalizeDisplayName(input.displayName);
  if (input.locale !== undefined) change.locale = input.locale;
  if (input.timeZone !== undefined) change.timeZone = checkTimeZone(input.timeZone);
  if (input.extension !== undefined) change.extension = input.extension;
  await execute(c, account, { type: 'changeProfile', change }, ctx, account.userId);
  return me(c, principal.userId);
}

export async function requestEmailChange(
  c: AccountsContext,
  principal: Principal,
  input: { newEmail: string; password: string },
  ctx: RequestContext,
) {
  await c.limiter.hit(`mail:user:${principal.userId}`, c.config.MAIL_LIMIT_PER_ACCOUNT, c.window);
  const account = await requireAccount(c.db, principal.userId);
  await checkPasswordAgain(c, principal, account, input.password, '/password');
  const newEmail = normalizeEmail(input.newEmail);
  if (await accountByEmail(c.db, newEmail))
    throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
  const confirmation = mailToken(c.config, 'confirm_email_change', account.userId);
  const expiresAt = new Date(Date.now() + c.config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000).toISOString();
  const command = {
    type: 'requestEmailChange',
    newEmail,
    sealedToken: confirmation.sealed,
    tokenHash: confirmation.hash,
    expiresAt,
  } as const;
  await execute(c, account, command, ctx, account.userId);
  return ok;
}

export async function confirmEmailChange(c: AccountsContext, token: string, ctx: RequestContext) {
  const live = await liveToken(c.db, token, 'email_change');
  const account = await requireAccount(c.db, live.userId);
  if (!live.newEmail) throw validationError('This link is invalid, expired or already used');
  const command = {
    type: 'confirmEmailChange',
    newEmail: live.newEmail,
    tokenHash: live.tokenHash,
  } as const;
  await execute(c, account, command, ctx, account.userId);
  return ok;
}

/** Active users by extension number or the start of their display name (the directory search). */
export async function searchUsers(c: AccountsContext, query: string, limit = 20) {
  const q = query.normalize('NFC').trim().toLowerCase();
  const prefix = `${q.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
  const rows = await tablesOf(c.db)
    .selectFrom('accounts')
    .select(['user_id', 'display_name', 'extension'])
    .where('status', '=', 'active')
    .where((eb) => eb.or([eb('extension', '=', q), eb(eb.fn('lower', ['display_name']), 'like', prefix)]))
    // An exact extension first; a null extension compares to null, which sorts last.
    .orderBy(
      (eb) => eb('extension', '=', q),
      (ob) => ob.desc().nullsLast(),
    )
    .orderBy((eb) => eb.fn('lower', ['display_name']))
    .orderBy('user_id')
    .limit(limit)
    .execute();
  return {
    users: rows.map((r) => ({ userId: r.user_id, displayName: r.display_name, extension: r.extension })),
  };
}
