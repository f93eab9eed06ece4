/** What administrators do to accounts: list them, disable and enable them, map Kerberos principals. */
import { conflict } from '@veche/errors';
import { execute } from './append.ts';
import { ok, type AccountsContext, type Principal, type RequestContext } from './context.ts';
import { tablesOf } from '../tables.ts';
import { requireAccount } from './read-model.ts';
import { endLiveSessions } from './sessions.ts';

export async function listUsers(c: AccountsContext, input: { after?: string; limit?: number }) {
  const limit = input.limit ?? 50;
  let query = tablesOf(c.db).selectFrom('accounts').selectAll();
  if (input.after !== undefined) query = query.where('user_id', '>', input.after);
  const rows = await query
    .orderBy('user_id')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  return {
    users: page.map((r) => ({
      userId: r.user_id,
      email: r.email,
      emailVerified: r.email_verified,
      displayName: r.display_name,
      role: r.role,
      status: r.status,
      extension: r.extension,
      createdAt: r.created_at.toISOString(),
    })),
    nextAfter: rows.length > limit ? (page.at(-1)?.user_id ?? null) : null,
  };
}

export async function setDisabled(
  c: AccountsContext,
  admin: Principal,
  userId: string,
  disabled: boolean,
  ctx: RequestContext,
) {
  const account = await requireAccount(c.db, userId);
  const events = await execute(
    c,
    account,
    { type: 'setDisabled', by: admin.userId, disabled },
    ctx,
    admin.userId,
  );
  if (events.length === 0) return ok;
  c.log.info({ userId, by: admin.userId, disabled }, disabled ? 'account disabled' : 'account enabled');
  if (disabled) await endLiveSessions(c, userId, true);
  return ok;
}

/** The admin's mapping of Kerberos client principals to this account: exactly `principals`. */
export async function setKerberosPrincipals(
  c: AccountsContext,
  admin: Principal,
  userId: string,
  principals: string[],
  ctx: RequestContext,
) {
  const account = await requireAccount(c.db, userId);
  const wanted = [...new Set(principals)].sort();
  const taken =
    wanted.length === 0
      ? []
      : await tablesOf(c.db)
          .selectFrom('kerberos_principals')
          .select(['principal', 'user_id'])
          .where('principal', 'in', wanted)
          .where('user_id', '<>', userId)
          .execute();
  if (taken[0])
    throw conflict('This Kerberos principal logs in as another account', {
      details: { principal: taken[0].principal, userId: taken[0].user_id },
    });
  await execute(
    c,
    account,
    { type: 'setKerberosPrincipals', by: admin.userId, principals: wanted },
    ctx,
    admin.userId,
  );
  c.log.info({ userId, by: admin.userId, principals: wanted.length }, 'Kerberos principals set');
  return ok;
}

export async function listKerberosPrincipals(c: AccountsContext) {
  const rows = await tablesOf(c.db)
    .selectFrom('kerberos_principals')
    .select(['principal', 'user_id', 'linked_at'])
    .orderBy('principal')
    .execute();
  return {
    principals: rows.map((r) => ({
      principal: r.principal,
      userId: r.user_id,
      linkedAt: r.linked_at.toISOString(),
    })),
  };
}
