/**
 * Logging in: with an e-mail address and password (growing delays per address, account and device
 * instead of a lockout; ADR 0007), or with a verified Kerberos principal.
 */
import { unauthorized } from '@veche/errors';
import { assertActive, normalizeEmail, type AccountState } from '../domain/account.ts';
import { loginGuards, throttleKeys } from '../domain/login-throttle.ts';
import { hashPassword, needsRehash, verifyPassword } from '../domain/passwords.ts';
import { longestWait, tooManyFailures } from '../login-throttle.ts';
import { execute } from './append.ts';
import type { AccountsContext, RequestContext, TokenPair } from './context.ts';
import { tablesOf } from '../tables.ts';
import { accountByEmail, toState } from './read-model.ts';
import { startSession } from './sessions.ts';

export async function login(
  c: AccountsContext,
  input: { email: string; password: string; device?: string },
  ctx: RequestContext,
): Promise<TokenPair> {
  const { config, log, throttle } = c;
  const email = normalizeEmail(input.email);
  const account = await accountByEmail(c.db, email);
  const device = ctx.deviceToken === undefined ? undefined : c.devices.verify(ctx.deviceToken);
  const deviceKey =
    device && account && device.userId === account.userId ? throttleKeys.device(device.deviceId) : undefined;
  const accountKey = throttleKeys.account(email);
  const known = await throttle.read([
    throttleKeys.address(ctx.ip),
    accountKey,
    ...(deviceKey ? [deviceKey] : []),
  ]);
  // A known device that failed too often itself is judged like any other client.
  const knownDeviceId = deviceKey && device && !longestWait(known, [deviceKey]) ? device.deviceId : undefined;
  const guards = loginGuards({ ip: ctx.ip, email, knownDeviceId }, c.loginPolicies);
  const wait = longestWait(
    known,
    guards.map((g) => g.key),
  );
  if (wait !== undefined) {
    log.info({ userId: account?.userId, ip: ctx.ip }, 'log-in refused while its wait runs');
    throw tooManyFailures(wait);
  }
  if (knownDeviceId === undefined)
    await c.limiter.hit(`login:ip:${ctx.ip}`, config.LOGIN_LIMIT_PER_IP, c.window);
  const valid = account?.passwordHash
    ? await verifyPassword(input.password, account.passwordHash)
    : (await verifyPassword(input.password, await c.dummyHash), false);
  if (!account || !valid) {
    await throttle.fail(guards);
    log.info(
      { userId: account?.userId, ip: ctx.ip, knownDevice: knownDeviceId !== undefined },
      'failed log-in',
    );
    throw unauthorized('Wrong e-mail address or password');
  }
  // The owner got in: the account's and this device's count starts again (an address's does not,
  // or an attacker could clear it by logging in to an account of their own).
  const cleared = [accountKey, ...(deviceKey ? [deviceKey] : [])].filter((key) => known.has(key));
  await throttle.clear(cleared);
  assertActive(account);
  // The same answer as a wrong password: otherwise registering an address and then logging in
  // with the password just chosen would tell a new account (this answer) from a taken address.
  if (config.REQUIRE_VERIFIED_EMAIL && !account.emailVerified)
    throw unauthorized('Wrong e-mail address or password');
  if (account.passwordHash && needsRehash(account.passwordHash, c.argon)) {
    const passwordHash = await hashPassword(input.password, c.argon);
    await execute(c, account, { type: 'rehashPassword', passwordHash }, ctx, account.userId).catch(
      (error: unknown) => log.warn({ err: error, userId: account.userId }, 'password re-hash skipped'),
    );
  }
  const pair = await startSession(c, account, input.device ?? ctx.userAgent ?? 'unknown', ctx);
  ctx.issueDeviceToken?.(c.devices.issue(account.userId));
  log.info({ userId: account.userId, sessionId: pair.sessionId }, 'logged in');
  return pair;
}

/** The active account a verified Kerberos principal logs in as (refused the same way otherwise). */
export async function accountOfPrincipal(c: AccountsContext, principal: string): Promise<AccountState> {
  const row = await tablesOf(c.db)
    .selectFrom('kerberos_principals as k')
    .innerJoin('accounts as a', 'a.user_id', 'k.user_id')
    .selectAll('a')
    .where('k.principal', '=', principal)
    .executeTakeFirst();
  const account = row ? toState(row) : undefined;
  if (!account || account.status !== 'active') {
    c.log.info({ principal, userId: account?.userId }, 'Kerberos principal with no active account');
    throw unauthorized('No active account for this Kerberos principal', {
      details: { reason: 'unknown_principal' },
    });
  }
  return account;
}

/** `POST /api/auth/negotiate`: a session for the account a verified principal maps to. */
export async function loginWithPrincipal(
  c: AccountsContext,
  principal: string,
  ctx: RequestContext,
): Promise<TokenPair> {
  const account = await accountOfPrincipal(c, principal);
  const pair = await startSession(c, account, ctx.userAgent ?? 'kerberos', ctx);
  c.log.info({ userId: account.userId, sessionId: pair.sessionId, principal }, 'logged in with Kerberos');
  return pair;
}
