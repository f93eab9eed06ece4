/**
 * Registering an account and proving its e-mail address. The answers never tell whether an address
 * already has an account (ADR 0007, 10).
 */
import { isVecheError } from '@veche/errors';
import { uuidV7 as uuidv7 } from '@veche/event-store';
import {
  checkPasswordStrength,
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  type AccountState,
  type Role,
} from '../domain/account.ts';
import { hashPassword } from '../domain/passwords.ts';
import { tablesOf } from '../tables.ts';
import { execute } from './append.ts';
import { appendContext, ok, type AccountsContext, type RequestContext } from './context.ts';
import { liveToken, mailToken } from './mail-links.ts';
import { accountByEmail, requireAccount } from './read-model.ts';

const verificationExpiry = (c: AccountsContext) =>
  new Date(Date.now() + c.config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000).toISOString();

/**
 * Registering an address that already has an account answers exactly like a new registration
 * (201 and a user id, one that belongs to no one), so the answer does not tell who has an account;
 * the owner is told by mail that someone tried (ADR 0007, 10). The mail is limited per address like
 * every mail a stranger can cause; past the limit it is skipped, the answer the same.
 */
async function registrationOfTakenAddress(
  c: AccountsContext,
  owner: AccountState,
  ctx: RequestContext,
): Promise<{ userId: string }> {
  try {
    await c.limiter.hit(`mail:email:${owner.email.toLowerCase()}`, c.config.MAIL_LIMIT_PER_ACCOUNT, c.window);
    await execute(c, owner, { type: 'noteRegistrationAttempt' }, ctx, owner.userId, 'any');
    c.log.info({ userId: owner.userId, ip: ctx.ip }, 'registration with a taken address; the owner is told');
  } catch (error) {
    if (!isVecheError(error, 'rate_limited')) throw error;
    c.log.info({ userId: owner.userId, ip: ctx.ip }, 'registration with a taken address; owner already told');
  }
  return { userId: uuidv7() };
}

async function roleForNewAccount(
  c: AccountsContext,
  email: string,
  userId: string,
  ctx: RequestContext,
): Promise<Role> {
  const adminEmail = c.config.VECHE_ADMIN_EMAIL;
  if (adminEmail) return adminEmail.toLowerCase() === email.toLowerCase() ? 'admin' : 'user';
  const anyAccount = await tablesOf(c.db)
    .selectFrom('accounts')
    .select('user_id')
    .limit(1)
    .executeTakeFirst();
  if (anyAccount) return 'user';
  // Two first registrations at once: the claim stream lets exactly one of them be the admin.
  try {
    await c.store.append('gateway-first-admin', [{ type: 'gateway.first_admin_claimed', data: { userId } }], {
      expectedVersion: 'no_stream',
      ...appendContext(ctx, userId),
    });
    return 'admin';
  } catch (error) {
    if (isVecheError(error, 'conflict')) return 'user';
    throw error;
  }
}

export async function register(
  c: AccountsContext,
  input: {
    email: string;
    password: string;
    displayName: string;
    locale?: 'en' | 'ru';
    timeZone?: string;
  },
  ctx: RequestContext,
): Promise<{ userId: string }> {
  await c.limiter.hit(`register:ip:${ctx.ip}`, c.config.REGISTER_LIMIT_PER_IP, c.window);
  const email = normalizeEmail(input.email);
  const displayName = normalizeDisplayName(input.displayName);
  const timeZone = checkTimeZone(input.timeZone ?? 'UTC');
  checkPasswordStrength(input.password, email);
  // Hashed whether or not the address is taken, so both answers take as long.
  const passwordHash = await hashPassword(input.password, c.argon);
  const existing = await accountByEmail(c.db, email);
  if (existing) return registrationOfTakenAddress(c, existing, ctx);
  const userId = uuidv7();
  const verification = mailToken(c.config, 'verify_email', userId);
  const role = await roleForNewAccount(c, email, userId, ctx);
  try {
    await execute(
      c,
      undefined,
      {
        type: 'register',
        facts: {
          userId,
          email,
          displayName,
          locale: input.locale ?? 'en',
          timeZone,
          passwordHash,
          sealedVerificationToken: verification.sealed,
          verificationTokenHash: verification.hash,
          verificationExpiresAt: verificationExpiry(c),
          role,
        },
      },
      ctx,
      userId,
    );
  } catch (error) {
    // Someone registered the address in the meantime: the same answer as for a taken one.
    const winner = isVecheError(error, 'conflict') ? await accountByEmail(c.db, email) : undefined;
    if (winner) return registrationOfTakenAddress(c, winner, ctx);
    throw error;
  }
  c.log.info({ userId, role }, 'account registered');
  return { userId };
}

export async function verifyEmail(c: AccountsContext, token: string, ctx: RequestContext) {
  const live = await liveToken(c.db, token, 'verify');
  const account = await requireAccount(c.db, live.userId);
  await execute(c, account, { type: 'verifyEmail', tokenHash: live.tokenHash }, ctx, account.userId);
  return ok;
}

export async function resendVerification(c: AccountsContext, emailInput: string, ctx: RequestContext) {
  await c.limiter.hit(`mail:ip:${ctx.ip}`, c.config.MAIL_LIMIT_PER_IP, c.window);
  const email = normalizeEmail(emailInput);
  await c.limiter.hit(`mail:email:${email.toLowerCase()}`, c.config.MAIL_LIMIT_PER_ACCOUNT, c.window);
  const account = await accountByEmail(c.db, email);
  if (account) {
    const verification = mailToken(c.config, 'verify_email', account.userId);
    const command = {
      type: 'resendVerification',
      sealedToken: verification.sealed,
      tokenHash: verification.hash,
      expiresAt: verificationExpiry(c),
    } as const;
    await execute(c, account, command, ctx, account.userId);
  }
  return ok;
}
