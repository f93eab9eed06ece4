/**
 * Passwords: a reset through a mailed link, a change by the signed-in owner, and checking the
 * password again before either a change or an address change.
 */
import { forbidden } from '@veche/errors';
import { checkPasswordStrength, normalizeEmail, type AccountState } from '../domain/account.ts';
import { throttleKeys } from '../domain/login-throttle.ts';
import { hashPassword, verifyPassword } from '../domain/passwords.ts';
import { longestWait, tooManyFailures } from '../login-throttle.ts';
import { execute } from './append.ts';
import { ok, type AccountsContext, type Principal, type RequestContext } from './context.ts';
import { liveToken, mailToken } from './mail-links.ts';
import { accountByEmail, requireAccount } from './read-model.ts';
import { endLiveSessions } from './sessions.ts';

/**
 * A signed-in user typing their password again (to change it or the address). Failures count on the
 * session, not on the account: a stolen session is slowed down, and nobody else can use this to make
 * the owner wait at the log-in.
 */
export async function checkPasswordAgain(
  c: AccountsContext,
  principal: Principal,
  account: AccountState,
  password: string,
  path: string,
) {
  const key = throttleKeys.session(principal.sessionId);
  const wait = longestWait(await c.throttle.read([key]), [key]);
  if (wait !== undefined) throw tooManyFailures(wait);
  if (!account.passwordHash || !(await verifyPassword(password, account.passwordHash))) {
    await c.throttle.fail([{ key, policy: c.loginPolicies.account }]);
    throw forbidden('The password is wrong', { details: [{ path, message: 'wrong password' }] });
  }
}

export async function requestPasswordReset(c: AccountsContext, emailInput: string, ctx: RequestContext) {
  await c.limiter.hit(`mail:ip:${ctx.ip}`, c.config.MAIL_LIMIT_PER_IP, c.window);
  const email = normalizeEmail(emailInput);
  await c.limiter.hit(`mail:email:${email.toLowerCase()}`, c.config.MAIL_LIMIT_PER_ACCOUNT, c.window);
  const account = await accountByEmail(c.db, email);
  if (account) {
    const reset = mailToken(c.config, 'reset_password', account.userId);
    const expiresAt = new Date(Date.now() + c.config.RESET_TOKEN_TTL_MINUTES * 60_000).toISOString();
    const command = {
      type: 'requestPasswordReset',
      sealedToken: reset.sealed,
      tokenHash: reset.hash,
      expiresAt,
    } as const;
    await execute(c, account, command, ctx, account.userId);
  }
  return ok;
}

export async function confirmPasswordReset(
  c: AccountsContext,
  input: { token: string; password: string },
  ctx: RequestContext,
) {
  await c.limiter.hit(`mail:ip:${ctx.ip}`, c.config.MAIL_LIMIT_PER_IP * 3, c.window);
  const live = await liveToken(c.db, input.token, 'reset');
  const account = await requireAccount(c.db, live.userId);
  checkPasswordStrength(input.password, account.email);
  const passwordHash = await hashPassword(input.password, c.argon);
  const command = { type: 'resetPassword', passwordHash, tokenHash: live.tokenHash } as const;
  await execute(c, account, command, ctx, account.userId);
  await c.throttle.clear([throttleKeys.account(account.email)]);
  await endLiveSessions(c, account.userId);
  return ok;
}

export async function changePassword(
  c: AccountsContext,
  principal: Principal,
  input: { currentPassword: string; newPassword: string },
  ctx: RequestContext,
) {
  const account = await requireAccount(c.db, principal.userId);
  await checkPasswordAgain(c, principal, account, input.currentPassword, '/currentPassword');
  checkPasswordStrength(input.newPassword, account.email, '/newPassword');
  const passwordHash = await hashPassword(input.newPassword, c.argon);
  const command = { type: 'changePassword', passwordHash, exceptSessionId: principal.sessionId } as const;
  await execute(c, account, command, ctx, account.userId);
  // Other devices' live WAMP sessions end; this device's account session, and so its WAMP session, stays.
  await endLiveSessions(c, account.userId);
  return ok;
}
