/**
 * The gateway's commands and queries over accounts and sessions. Each command reads the state it
 * decides on from the inline read models, appends the resulting events with the version it read
 * (a concurrent change makes it fail with `conflict`), and lets the outbox relay tell the rest of the
 * fleet. Nothing here knows about HTTP: the routes and the WAMP procedures both call these.
 */
import { randomUUID } from 'node:crypto';
import { uuidV7 as uuidv7 } from '@veche/event-store';
import { pgErrorCode, pgErrorCodes, sql, type Executor } from '@veche/db';
import { conflict, forbidden, isVecheError, notFound, unauthorized, validationError } from '@veche/errors';
import { sealMailToken, type MailTokenPurpose } from '@veche/contracts';
import type { AppendContext, EventStore } from '@veche/event-store';
import type { AccountEvent, SessionEvent } from './domain/events.ts';
import type { Logger } from '@veche/log';
import {
  accountStream,
  assertActive,
  checkPasswordStrength,
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  decide,
  sessionStream,
  type AccountCommand,
  type AccountState,
  type ProfileChange,
  type Role,
} from './domain/account.ts';
import { hashPassword, needsRehash, verifyPassword, type Argon2Parameters } from './domain/passwords.ts';
import { loginGuards, throttleKeys, type DelayPolicy, type LoginPolicies } from './domain/login-throttle.ts';
import {
  createAccessTokens,
  createDeviceTokens,
  hashToken,
  newOpaqueToken,
  type VerifiedAccess,
} from './domain/tokens.ts';
import { mailTokenSecret, type GatewayConfig } from './env.ts';
import { longestWait, tooManyFailures, type LoginThrottle } from './login-throttle.ts';
import type { RateLimiter } from './rate-limit.ts';

/** Who is asking, as the edge saw it. */
export interface RequestContext {
  ip: string;
  userAgent: string;
  correlationId: string;
  /** The device token the client sent (a cookie), if any. */
  deviceToken?: string | undefined;
  /** Hands the client a new device token (sets the cookie); absent outside HTTP. */
  issueDeviceToken?: ((token: string) => void) | undefined;
}

export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
  /** When the access token it came from expires (absent for principals not from a token). */
  expiresAtMs?: number;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  userId: string;
  sessionId: string;
}

interface AccountRow {
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

const toState = (row: AccountRow): AccountState => ({
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

const ok = { ok: true as const };

export interface AccountsOptions {
  db: Executor<unknown>;
  store: EventStore;
  limiter: RateLimiter;
  throttle: LoginThrottle;
  config: GatewayConfig;
  log: Logger;
  tokenSecret: string;
  /**
   * Ends, now, the live WAMP sessions whose account session or account has just ended (wamp-sessions.ts).
   * The decision is already committed with the event (the read model says which sessions are doomed);
   * a kill the router does not confirm is retried in the background until it does.
   */
  endDoomedWampSessions?: () => Promise<unknown>;
  /** Ends every live WAMP session of a disabled user at once (`wamp.session.kill_by_authid`). */
  killWampSessionsOf?: (userId: string, reason: string) => Promise<unknown>;
}

export type Accounts = ReturnType<typeof createAccounts>;

export function createAccounts(options: AccountsOptions) {
  const { db, store, limiter, throttle, config, log } = options;
  const argon: Argon2Parameters = {
    memory: config.ARGON2_MEMORY_KIB,
    passes: config.ARGON2_PASSES,
    parallelism: config.ARGON2_PARALLELISM,
  };
  const access = createAccessTokens(options.tokenSecret, config.ACCESS_TOKEN_TTL_SECONDS);
  const devices = createDeviceTokens(options.tokenSecret);
  const policy = (freeFailures: number): DelayPolicy => ({
    freeFailures,
    firstDelaySeconds: config.LOGIN_FIRST_DELAY_SECONDS,
    maxDelaySeconds: config.LOGIN_MAX_DELAY_SECONDS,
  });
  const loginPolicies: LoginPolicies = {
    address: policy(config.LOGIN_FAILURES_PER_IP),
    account: policy(config.LOGIN_FAILURES_PER_ACCOUNT),
    device: policy(config.LOGIN_FAILURES_PER_DEVICE),
  };
  const window = config.RATE_WINDOW_SECONDS;
  // Verified against when the address is unknown, so a miss costs as long as a wrong password.
  const dummyHash = hashPassword(randomUUID(), argon);

  /**
   * A fresh mail-link token: its hash for the read model, and the token sealed for the mailer. The
   * token itself is dropped here; only the recipient's mailbox ever sees it.
   */
  const mailToken = (purpose: MailTokenPurpose, userId: string) => {
    const token = newOpaqueToken();
    return {
      hash: hashToken(token),
      sealed: sealMailToken(mailTokenSecret(config), purpose, userId, token),
    };
  };

  const appendContext = (ctx: RequestContext, actor: string): AppendContext => ({
    actor,
    correlationId: ctx.correlationId,
    causationId: ctx.correlationId,
  });

  async function append(
    streamId: string,
    events: readonly (AccountEvent | SessionEvent)[],
    expectedVersion: number | 'no_stream' | 'any',
    context: AppendContext,
  ) {
    try {
      return await store.append(streamId, [...events], { expectedVersion, ...context });
    } catch (error) {
      if (pgErrorCode(error) === pgErrorCodes.uniqueViolation) {
        const constraint = (error as { constraint?: string }).constraint ?? '';
        if (constraint.includes('email'))
          throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
        if (constraint.includes('extension'))
          throw conflict('This extension number is taken', { details: { field: 'extension' } });
        throw conflict('Already exists');
      }
      throw error;
    }
  }

  /**
   * decide → append: the events `command` yields on `account` (or a new account), appended at the
   * version they were decided on unless `expectedVersion` says otherwise. Returns the events appended.
   */
  async function execute(
    account: AccountState | undefined,
    command: AccountCommand,
    ctx: RequestContext,
    actor: string,
    expectedVersion: number | 'no_stream' | 'any' = account?.version ?? 'no_stream',
  ): Promise<AccountEvent[]> {
    const events = decide(account, command);
    if (events.length === 0) return events;
    const userId = account?.userId ?? (command.type === 'register' ? command.facts.userId : undefined);
    if (userId === undefined) throw notFound('No such user');
    await append(accountStream(userId), events, expectedVersion, appendContext(ctx, actor));
    return events;
  }

  async function accountById(userId: string): Promise<AccountState | undefined> {
    const { rows } = await sql<AccountRow>`select * from accounts where user_id = ${userId}`.execute(db);
    return rows[0] ? toState(rows[0]) : undefined;
  }

  async function accountByEmail(email: string): Promise<AccountState | undefined> {
    const { rows } =
      await sql<AccountRow>`select * from accounts where lower(email) = lower(${email})`.execute(db);
    return rows[0] ? toState(rows[0]) : undefined;
  }

  async function requireAccount(userId: string): Promise<AccountState> {
    const account = await accountById(userId);
    if (!account) throw notFound('No such user', { details: { userId } });
    return account;
  }

  /** A live mail token of `purpose`, or a validation error that does not say which check failed. */
  async function liveToken(token: string, purpose: 'verify' | 'reset' | 'email_change') {
    const tokenHash = hashToken(token);
    const { rows } = await sql<{ user_id: string; new_email: string | null }>`
      select user_id, new_email from account_tokens
      where token_hash = ${tokenHash} and purpose = ${purpose} and used_at is null and expires_at > now()`.execute(
      db,
    );
    const row = rows[0];
    if (!row) {
      throw validationError('This link is invalid, expired or already used', {
        details: [{ path: '/token', message: 'invalid or expired' }],
      });
    }
    return { tokenHash, userId: row.user_id, newEmail: row.new_email };
  }

  async function roleForNewAccount(email: string, userId: string, ctx: RequestContext): Promise<Role> {
    if (config.VECHE_ADMIN_EMAIL)
      return config.VECHE_ADMIN_EMAIL.toLowerCase() === email.toLowerCase() ? 'admin' : 'user';
    const { rows } = await sql<{ any: boolean }>`select exists (select 1 from accounts) as any`.execute(db);
    if (rows[0]?.any) return 'user';
    // Two first registrations at once: the claim stream lets exactly one of them be the admin.
    try {
      await store.append('gateway-first-admin', [{ type: 'gateway.first_admin_claimed', data: { userId } }], {
        expectedVersion: 'no_stream',
        ...appendContext(ctx, userId),
      });
      return 'admin';
    } catch (error) {
      if (isVecheError(error, 'conflict')) return 'user';
      throw error;
    }
  }

  async function startSession(
    account: AccountState,
    device: string,
    ctx: RequestContext,
  ): Promise<TokenPair> {
    const sessionId = randomUUID();
    const refreshToken = newOpaqueToken();
    await append(
      sessionStream(sessionId),
      [
        {
          type: 'session.started',
          data: {
            userId: account.userId,
            refreshTokenHash: hashToken(refreshToken),
            device: device.slice(0, 200),
            ip: ctx.ip,
            expiresAt: new Date(Date.now() + config.REFRESH_TOKEN_TTL_DAYS * 86_400_000).toISOString(),
          },
        },
      ],
      'no_stream',
      appendContext(ctx, account.userId),
    );
    const { token, expiresIn } = await access.sign({ userId: account.userId, sessionId, role: account.role });
    return { accessToken: token, refreshToken, expiresIn, userId: account.userId, sessionId };
  }

  /**
   * Ends the WAMP sessions the event just committed doomed (every way an account session ends). The
   * request waits for a first attempt, so a device is normally cut off before the answer; a kill that
   * fails now is retried until the router confirms it (wamp-sessions.ts), not forgotten.
   */
  async function endLiveSessions(userId: string, disabled = false): Promise<void> {
    try {
      if (disabled) await options.killWampSessionsOf?.(userId, 'veche.close.account_disabled');
      await options.endDoomedWampSessions?.();
    } catch (error) {
      log.warn(
        { err: error, userId },
        'could not end the live WAMP sessions yet (retried in the background)',
      );
    }
  }

  /**
   * Registering an address that already has an account answers exactly like a new registration
   * (201 and a user id, one that belongs to no one), so the answer does not tell who has an account;
   * the owner is told by mail that someone tried (ADR 0007, 10). The mail is limited per address like
   * every mail a stranger can cause; past the limit it is skipped, the answer the same.
   */
  async function registrationOfTakenAddress(
    owner: AccountState,
    ctx: RequestContext,
  ): Promise<{ userId: string }> {
    try {
      await limiter.hit(`mail:email:${owner.email.toLowerCase()}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      await execute(owner, { type: 'noteRegistrationAttempt' }, ctx, owner.userId, 'any');
      log.info({ userId: owner.userId, ip: ctx.ip }, 'registration with a taken address; the owner is told');
    } catch (error) {
      if (!isVecheError(error, 'rate_limited')) throw error;
      log.info({ userId: owner.userId, ip: ctx.ip }, 'registration with a taken address; owner already told');
    }
    return { userId: uuidv7() };
  }

  /**
   * A signed-in user typing their password again (to change it or the address). Failures count on the
   * session, not on the account: a stolen session is slowed down, and nobody else can use this to make
   * the owner wait at the log-in.
   */
  async function checkPasswordAgain(
    principal: Principal,
    account: AccountState,
    password: string,
    path: string,
  ) {
    const key = throttleKeys.session(principal.sessionId);
    const wait = longestWait(await throttle.read([key]), [key]);
    if (wait !== undefined) throw tooManyFailures(wait);
    if (!account.passwordHash || !(await verifyPassword(password, account.passwordHash))) {
      await throttle.fail([{ key, policy: loginPolicies.account }]);
      throw forbidden('The password is wrong', { details: [{ path, message: 'wrong password' }] });
    }
  }

  /** Ends one account session, and the WAMP sessions opened with its tokens (every way it can end). */
  async function revokeSession(sessionId: string, reason: string, ctx: RequestContext, actor: string) {
    await append(
      sessionStream(sessionId),
      [{ type: 'session.revoked', data: { reason } }],
      'any',
      appendContext(ctx, actor),
    );
    await endLiveSessions(actor);
  }

  /** The active account a verified Kerberos principal logs in as (refused the same way otherwise). */
  async function accountOfPrincipal(principal: string): Promise<AccountState> {
    const { rows } = await sql<AccountRow>`
      select a.* from kerberos_principals k join accounts a on a.user_id = k.user_id
      where k.principal = ${principal}`.execute(db);
    const account = rows[0] ? toState(rows[0]) : undefined;
    if (!account || account.status !== 'active') {
      log.info({ principal, userId: account?.userId }, 'Kerberos principal with no active account');
      throw unauthorized('No active account for this Kerberos principal', {
        details: { reason: 'unknown_principal' },
      });
    }
    return account;
  }

  return {
    /** The account aggregate's state as commands see it (the read model's row). */
    accountState: accountById,
    /** The principal behind an access token, checked against the live session and account. */
    async authenticate(accessToken: string): Promise<Principal> {
      const claims: VerifiedAccess = await access.verify(accessToken);
      const { rows } = await sql<{ status: string; role: Role; revoked_at: Date | null; expires_at: Date }>`
        select a.status, a.role, s.revoked_at, s.expires_at from sessions s join accounts a using (user_id)
        where s.session_id = ${claims.sessionId} and s.user_id = ${claims.userId}`.execute(db);
      const row = rows[0];
      if (!row || row.revoked_at !== null || row.expires_at.getTime() <= Date.now()) {
        throw unauthorized('The session has ended', { details: { reason: 'session_ended' } });
      }
      if (row.status !== 'active')
        throw unauthorized('The account is disabled', { details: { reason: 'disabled' } });
      return {
        userId: claims.userId,
        sessionId: claims.sessionId,
        role: row.role,
        expiresAtMs: claims.expiresAtMs,
      };
    },

    async register(
      input: {
        email: string;
        password: string;
        displayName: string;
        locale?: 'en' | 'ru';
        timeZone?: string;
      },
      ctx: RequestContext,
    ): Promise<{ userId: string }> {
      await limiter.hit(`register:ip:${ctx.ip}`, config.REGISTER_LIMIT_PER_IP, window);
      const email = normalizeEmail(input.email);
      const displayName = normalizeDisplayName(input.displayName);
      const timeZone = checkTimeZone(input.timeZone ?? 'UTC');
      checkPasswordStrength(input.password, email);
      // Hashed whether or not the address is taken, so both answers take as long.
      const passwordHash = await hashPassword(input.password, argon);
      const existing = await accountByEmail(email);
      if (existing) return registrationOfTakenAddress(existing, ctx);
      const userId = uuidv7();
      const verification = mailToken('verify_email', userId);
      const role = await roleForNewAccount(email, userId, ctx);
      try {
        await execute(
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
              verificationExpiresAt: new Date(
                Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000,
              ).toISOString(),
              role,
            },
          },
          ctx,
          userId,
        );
      } catch (error) {
        // Someone registered the address in the meantime: the same answer as for a taken one.
        const winner = isVecheError(error, 'conflict') ? await accountByEmail(email) : undefined;
        if (winner) return registrationOfTakenAddress(winner, ctx);
        throw error;
      }
      log.info({ userId, role }, 'account registered');
      return { userId };
    },

    async verifyEmail(token: string, ctx: RequestContext) {
      const live = await liveToken(token, 'verify');
      const account = await requireAccount(live.userId);
      await execute(account, { type: 'verifyEmail', tokenHash: live.tokenHash }, ctx, account.userId);
      return ok;
    },

    async resendVerification(emailInput: string, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP, window);
      const email = normalizeEmail(emailInput);
      await limiter.hit(`mail:email:${email.toLowerCase()}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await accountByEmail(email);
      if (account) {
        const verification = mailToken('verify_email', account.userId);
        const expiresAt = new Date(
          Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000,
        ).toISOString();
        const command = {
          type: 'resendVerification',
          sealedToken: verification.sealed,
          tokenHash: verification.hash,
          expiresAt,
        } as const;
        await execute(account, command, ctx, account.userId);
      }
      return ok;
    },

    async login(
      input: { email: string; password: string; device?: string },
      ctx: RequestContext,
    ): Promise<TokenPair> {
      const email = normalizeEmail(input.email);
      const account = await accountByEmail(email);
      const device = ctx.deviceToken === undefined ? undefined : devices.verify(ctx.deviceToken);
      const deviceKey =
        device && account && device.userId === account.userId
          ? throttleKeys.device(device.deviceId)
          : undefined;
      const accountKey = throttleKeys.account(email);
      const known = await throttle.read([
        throttleKeys.address(ctx.ip),
        accountKey,
        ...(deviceKey ? [deviceKey] : []),
      ]);
      // A known device that failed too often itself is judged like any other client.
      const knownDeviceId =
        deviceKey && device && !longestWait(known, [deviceKey]) ? device.deviceId : undefined;
      const guards = loginGuards({ ip: ctx.ip, email, knownDeviceId }, loginPolicies);
      const wait = longestWait(
        known,
        guards.map((g) => g.key),
      );
      if (wait !== undefined) {
        log.info({ userId: account?.userId, ip: ctx.ip }, 'log-in refused while its wait runs');
        throw tooManyFailures(wait);
      }
      if (knownDeviceId === undefined)
        await limiter.hit(`login:ip:${ctx.ip}`, config.LOGIN_LIMIT_PER_IP, window);
      const valid = account?.passwordHash
        ? await verifyPassword(input.password, account.passwordHash)
        : (await verifyPassword(input.password, await dummyHash), false);
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
      if (account.passwordHash && needsRehash(account.passwordHash, argon)) {
        const passwordHash = await hashPassword(input.password, argon);
        await execute(account, { type: 'rehashPassword', passwordHash }, ctx, account.userId).catch(
          (error: unknown) => log.warn({ err: error, userId: account.userId }, 'password re-hash skipped'),
        );
      }
      const pair = await startSession(account, input.device ?? ctx.userAgent ?? 'unknown', ctx);
      ctx.issueDeviceToken?.(devices.issue(account.userId));
      log.info({ userId: account.userId, sessionId: pair.sessionId }, 'logged in');
      return pair;
    },

    async refresh(refreshToken: string, ctx: RequestContext): Promise<TokenPair> {
      const tokenHash = hashToken(refreshToken);
      const { rows } = await sql<{
        session_id: string;
        token_generation: number;
        generation: number;
        version: number;
        revoked_at: Date | null;
        expires_at: Date;
        user_id: string;
      }>`
        select t.session_id, t.generation as token_generation, s.generation, s.version, s.revoked_at, s.expires_at, s.user_id
        from refresh_tokens t join sessions s using (session_id) where t.token_hash = ${tokenHash}`.execute(
        db,
      );
      const row = rows[0];
      if (!row || row.revoked_at !== null || row.expires_at.getTime() <= Date.now()) {
        throw unauthorized('Invalid refresh token', { details: { reason: 'invalid' } });
      }
      const reuse = async () => {
        log.warn(
          { sessionId: row.session_id, userId: row.user_id, ip: ctx.ip },
          'refresh token reused: session family revoked',
        );
        await revokeSession(row.session_id, 'refresh_token_reuse', ctx, row.user_id);
        return unauthorized('This refresh token was already used; the session has been ended', {
          details: { reason: 'reused' },
        });
      };
      if (row.token_generation !== row.generation) throw await reuse();
      const account = await requireAccount(row.user_id);
      if (account.status !== 'active')
        throw unauthorized('The account is disabled', { details: { reason: 'disabled' } });
      const next = newOpaqueToken();
      try {
        await append(
          sessionStream(row.session_id),
          [
            {
              type: 'session.refreshed',
              data: {
                refreshTokenHash: hashToken(next),
                generation: row.generation + 1,
                ip: ctx.ip,
                expiresAt: new Date(Date.now() + config.REFRESH_TOKEN_TTL_DAYS * 86_400_000).toISOString(),
              },
            },
          ],
          row.version,
          appendContext(ctx, row.user_id),
        );
      } catch (error) {
        // The same token spent twice at once: one of the two holders is not the owner.
        if (isVecheError(error, 'conflict')) throw await reuse();
        throw error;
      }
      const { token, expiresIn } = await access.sign({
        userId: row.user_id,
        sessionId: row.session_id,
        role: account.role,
      });
      return {
        accessToken: token,
        refreshToken: next,
        expiresIn,
        userId: row.user_id,
        sessionId: row.session_id,
      };
    },

    async logout(principal: Principal, ctx: RequestContext) {
      await revokeSession(principal.sessionId, 'logout', ctx, principal.userId);
      return ok;
    },

    async logoutEverywhere(principal: Principal, ctx: RequestContext) {
      const account = await requireAccount(principal.userId);
      await execute(account, { type: 'logoutEverywhere' }, ctx, principal.userId, 'any');
      await endLiveSessions(principal.userId);
      return ok;
    },

    async requestPasswordReset(emailInput: string, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP, window);
      const email = normalizeEmail(emailInput);
      await limiter.hit(`mail:email:${email.toLowerCase()}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await accountByEmail(email);
      if (account) {
        const reset = mailToken('reset_password', account.userId);
        const expiresAt = new Date(Date.now() + config.RESET_TOKEN_TTL_MINUTES * 60_000).toISOString();
        const command = {
          type: 'requestPasswordReset',
          sealedToken: reset.sealed,
          tokenHash: reset.hash,
          expiresAt,
        } as const;
        await execute(account, command, ctx, account.userId);
      }
      return ok;
    },

    async confirmPasswordReset(input: { token: string; password: string }, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP * 3, window);
      const live = await liveToken(input.token, 'reset');
      const account = await requireAccount(live.userId);
      checkPasswordStrength(input.password, account.email);
      const passwordHash = await hashPassword(input.password, argon);
      const command = { type: 'resetPassword', passwordHash, tokenHash: live.tokenHash } as const;
      await execute(account, command, ctx, account.userId);
      await throttle.clear([throttleKeys.account(account.email)]);
      await endLiveSessions(account.userId);
      return ok;
    },

    async changePassword(
      principal: Principal,
      input: { currentPassword: string; newPassword: string },
      ctx: RequestContext,
    ) {
      const account = await requireAccount(principal.userId);
      await checkPasswordAgain(principal, account, input.currentPassword, '/currentPassword');
      checkPasswordStrength(input.newPassword, account.email, '/newPassword');
      const passwordHash = await hashPassword(input.newPassword, argon);
      const command = { type: 'changePassword', passwordHash, exceptSessionId: principal.sessionId } as const;
      await execute(account, command, ctx, account.userId);
      // Other devices' live WAMP sessions end; this device's account session, and so its WAMP session, stays.
      await endLiveSessions(account.userId);
      return ok;
    },

    async requestEmailChange(
      principal: Principal,
      input: { newEmail: string; password: string },
      ctx: RequestContext,
    ) {
      await limiter.hit(`mail:user:${principal.userId}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await requireAccount(principal.userId);
      await checkPasswordAgain(principal, account, input.password, '/password');
      const newEmail = normalizeEmail(input.newEmail);
      if (await accountByEmail(newEmail))
        throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
      const confirmation = mailToken('confirm_email_change', account.userId);
      const expiresAt = new Date(Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000).toISOString();
      const command = {
        type: 'requestEmailChange',
        newEmail,
        sealedToken: confirmation.sealed,
        tokenHash: confirmation.hash,
        expiresAt,
      } as const;
      await execute(account, command, ctx, account.userId);
      return ok;
    },

    async confirmEmailChange(token: string, ctx: RequestContext) {
      const live = await liveToken(token, 'email_change');
      const account = await requireAccount(live.userId);
      if (!live.newEmail) throw validationError('This link is invalid, expired or already used');
      const command = {
        type: 'confirmEmailChange',
        newEmail: live.newEmail,
        tokenHash: live.tokenHash,
      } as const;
      await execute(account, command, ctx, account.userId);
      return ok;
    },

    async me(userId: string) {
      const { rows } = await sql<AccountRow>`select * from accounts where user_id = ${userId}`.execute(db);
      const row = rows[0];
      if (!row) throw notFound('No such user');
      return {
        userId: row.user_id,
        email: row.email,
        emailVerified: row.email_verified,
        displayName: row.display_name,
        locale: row.locale,
        timeZone: row.time_zone,
        extension: row.extension,
        role: row.role,
        createdAt: row.created_at.toISOString(),
      };
    },

    async updateProfile(principal: Principal, input: ProfileChange, ctx: RequestContext) {
      const account = await requireAccount(principal.userId);
      const change: ProfileChange = {};
      if (input.displayName !== undefined) change.displayName = normalizeDisplayName(input.displayName);
      if (input.locale !== undefined) change.locale = input.locale;
      if (input.timeZone !== undefined) change.timeZone = checkTimeZone(input.timeZone);
      if (input.extension !== undefined) change.extension = input.extension;
      await execute(account, { type: 'changeProfile', change }, ctx, account.userId);
      return this.me(principal.userId);
    },

    async listSessions(principal: Principal) {
      const { rows } = await sql<{
        session_id: string;
        device: string;
        ip: string;
        created_at: Date;
        last_seen_at: Date;
      }>`
        select session_id, device, ip, created_at, last_seen_at from sessions
        where user_id = ${principal.userId} and revoked_at is null and expires_at > now()
        order by last_seen_at desc limit 200`.execute(db);
      return {
        sessions: rows.map((r) => ({
          sessionId: r.session_id,
          device: r.device,
          ip: r.ip,
          createdAt: r.created_at.toISOString(),
          lastSeenAt: r.last_seen_at.toISOString(),
          current: r.session_id === principal.sessionId,
        })),
      };
    },

    async revokeOwnSession(principal: Principal, sessionId: string, ctx: RequestContext) {
      const { rows } =
        await sql`select 1 from sessions where session_id = ${sessionId} and user_id = ${principal.userId} and revoked_at is null`.execute(
          db,
        );
      if (rows.length === 0) throw notFound('No such session', { details: { sessionId } });
      await revokeSession(sessionId, 'revoked_by_user', ctx, principal.userId);
      return ok;
    },

    async searchUsers(query: string, limit = 20) {
      const q = query.normalize('NFC').trim().toLowerCase();
      const { rows } = await sql<{ user_id: string; display_name: string; extension: string | null }>`
        select user_id, display_name, extension from accounts
        where status = 'active' and (extension = ${q}
          or lower(display_name) like ${`${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`})
        order by (extension = ${q}) desc nulls last, lower(display_name), user_id
        limit ${limit}`.execute(db);
      return {
        users: rows.map((r) => ({ userId: r.user_id, displayName: r.display_name, extension: r.extension })),
      };
    },

    async listUsers(input: { after?: string; limit?: number }) {
      const limit = input.limit ?? 50;
      const { rows } = await sql<AccountRow>`
        select * from accounts where ${input.after ?? null}::text is null or user_id > ${input.after ?? null}
        order by user_id limit ${limit + 1}`.execute(db);
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
    },

    /** The admin's mapping of Kerberos client principals to this account: exactly `principals`. */
    async setKerberosPrincipals(admin: Principal, userId: string, principals: string[], ctx: RequestContext) {
      const account = await requireAccount(userId);
      const wanted = [...new Set(principals)].sort();
      const { rows: taken } = await sql<{ principal: string; user_id: string }>`
        select principal, user_id from kerberos_principals
        where principal = any(${wanted}::text[]) and user_id <> ${userId}`.execute(db);
      if (taken[0])
        throw conflict('This Kerberos principal logs in as another account', {
          details: { principal: taken[0].principal, userId: taken[0].user_id },
        });
      await execute(
        account,
        { type: 'setKerberosPrincipals', by: admin.userId, principals: wanted },
        ctx,
        admin.userId,
      );
      log.info({ userId, by: admin.userId, principals: wanted.length }, 'Kerberos principals set');
      return ok;
    },

    async listKerberosPrincipals() {
      const { rows } = await sql<{ principal: string; user_id: string; linked_at: Date }>`
        select principal, user_id, linked_at from kerberos_principals order by principal`.execute(db);
      return {
        principals: rows.map((r) => ({
          principal: r.principal,
          userId: r.user_id,
          linkedAt: r.linked_at.toISOString(),
        })),
      };
    },

    accountOfPrincipal,

    /** `POST /api/auth/negotiate`: a session for the account a verified principal maps to. */
    async loginWithPrincipal(principal: string, ctx: RequestContext): Promise<TokenPair> {
      const account = await accountOfPrincipal(principal);
      const pair = await startSession(account, ctx.userAgent ?? 'kerberos', ctx);
      log.info({ userId: account.userId, sessionId: pair.sessionId, principal }, 'logged in with Kerberos');
      return pair;
    },

    async setDisabled(admin: Principal, userId: string, disabled: boolean, ctx: RequestContext) {
      const account = await requireAccount(userId);
      const events = await execute(
        account,
        { type: 'setDisabled', by: admin.userId, disabled },
        ctx,
        admin.userId,
      );
      if (events.length === 0) return ok;
      log.info({ userId, by: admin.userId, disabled }, disabled ? 'account disabled' : 'account enabled');
      if (disabled) await endLiveSessions(userId, true);
      return ok;
    },
  };
}
