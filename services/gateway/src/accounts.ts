/**
 * The gateway's commands and queries over accounts and sessions. Each command reads the state it
 * decides on from the inline read models, appends the resulting events with the version it read
 * (a concurrent change makes it fail with `conflict`), and lets the outbox relay tell the rest of the
 * fleet. Nothing here knows about HTTP: the routes and the WAMP procedures both call these.
 */
import { randomUUID } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { pgErrorCode, pgErrorCodes, sql, type Executor } from '@veche/db';
import { conflict, forbidden, isVecheError, notFound, unauthorized, validationError } from '@veche/errors';
import type { AppendContext, EventStore, NewEvent } from '@veche/event-store';
import type { Logger } from '@veche/log';
import {
  accountStream,
  assertActive,
  checkPasswordStrength,
  checkTimeZone,
  normalizeDisplayName,
  normalizeEmail,
  profileEvents,
  registrationEvents,
  resendEvents,
  sessionStream,
  type AccountState,
  type ProfileChange,
  type Role,
} from './domain/account.ts';
import { hashPassword, needsRehash, verifyPassword, type Argon2Parameters } from './domain/passwords.ts';
import { createAccessTokens, hashToken, newOpaqueToken, type AccessClaims } from './domain/tokens.ts';
import type { GatewayConfig } from './env.ts';
import type { RateLimiter } from './rate-limit.ts';

/** Who is asking, as the edge saw it. */
export interface RequestContext {
  ip: string;
  userAgent: string;
  correlationId: string;
}

export interface Principal {
  userId: string;
  sessionId: string;
  role: Role;
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
  config: GatewayConfig;
  log: Logger;
  tokenSecret: string;
  /** Ends a user's live WAMP sessions (disable); best effort. */
  killWampSessions?: (userId: string, reason: string) => Promise<void>;
}

export type Accounts = ReturnType<typeof createAccounts>;

export function createAccounts(options: AccountsOptions) {
  const { db, store, limiter, config, log } = options;
  const argon: Argon2Parameters = {
    memory: config.ARGON2_MEMORY_KIB,
    passes: config.ARGON2_PASSES,
    parallelism: config.ARGON2_PARALLELISM,
  };
  const access = createAccessTokens(options.tokenSecret, config.ACCESS_TOKEN_TTL_SECONDS);
  const window = config.RATE_WINDOW_SECONDS;
  // Verified against when the address is unknown, so a miss costs as long as a wrong password.
  const dummyHash = hashPassword(randomUUID(), argon);

  const appendContext = (ctx: RequestContext, actor: string): AppendContext => ({
    actor,
    correlationId: ctx.correlationId,
    causationId: ctx.correlationId,
  });

  async function append(
    streamId: string,
    events: NewEvent[],
    expectedVersion: number | 'no_stream' | 'any',
    context: AppendContext,
  ) {
    try {
      return await store.append(streamId, events, { expectedVersion, ...context });
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

  /** Ends the user's live WAMP sessions (best effort: the router may lack the meta procedure). */
  async function endLiveSessions(userId: string, reason: string): Promise<void> {
    await options
      .killWampSessions?.(userId, reason)
      .catch((error: unknown) =>
        log.warn(
          { err: error, userId },
          'could not end the live WAMP sessions (they end when their token expires)',
        ),
      );
  }

  async function revokeSession(sessionId: string, reason: string, ctx: RequestContext, actor: string) {
    await append(
      sessionStream(sessionId),
      [{ type: 'session.revoked', data: { reason } }],
      'any',
      appendContext(ctx, actor),
    );
  }

  return {
    /** The principal behind an access token, checked against the live session and account. */
    async authenticate(accessToken: string): Promise<Principal> {
      const claims: AccessClaims = await access.verify(accessToken);
      const { rows } = await sql<{ status: string; role: Role; revoked_at: Date | null; expires_at: Date }>`
        select a.status, a.role, s.revoked_at, s.expires_at from sessions s join accounts a using (user_id)
        where s.session_id = ${claims.sessionId} and s.user_id = ${claims.userId}`.execute(db);
      const row = rows[0];
      if (!row || row.revoked_at !== null || row.expires_at.getTime() <= Date.now()) {
        throw unauthorized('The session has ended', { details: { reason: 'session_ended' } });
      }
      if (row.status !== 'active')
        throw unauthorized('The account is disabled', { details: { reason: 'disabled' } });
      return { userId: claims.userId, sessionId: claims.sessionId, role: row.role };
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
      if (await accountByEmail(email))
        throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
      const userId = uuidv7();
      const passwordHash = await hashPassword(input.password, argon);
      const verificationToken = newOpaqueToken();
      const role = await roleForNewAccount(email, userId, ctx);
      await append(
        accountStream(userId),
        registrationEvents({
          userId,
          email,
          displayName,
          locale: input.locale ?? 'en',
          timeZone,
          passwordHash,
          verificationToken,
          verificationTokenHash: hashToken(verificationToken),
          verificationExpiresAt: new Date(
            Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000,
          ).toISOString(),
          role,
        }),
        'no_stream',
        appendContext(ctx, userId),
      );
      log.info({ userId, role }, 'account registered');
      return { userId };
    },

    async verifyEmail(token: string, ctx: RequestContext) {
      const live = await liveToken(token, 'verify');
      const account = await requireAccount(live.userId);
      await append(
        accountStream(account.userId),
        [{ type: 'account.email_verified', data: { tokenHash: live.tokenHash } }],
        account.version,
        appendContext(ctx, account.userId),
      );
      return ok;
    },

    async resendVerification(emailInput: string, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP, window);
      const email = normalizeEmail(emailInput);
      await limiter.hit(`mail:email:${email.toLowerCase()}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await accountByEmail(email);
      if (account && !account.emailVerified && account.status === 'active') {
        const token = newOpaqueToken();
        const expiresAt = new Date(
          Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000,
        ).toISOString();
        await append(
          accountStream(account.userId),
          resendEvents(account, token, hashToken(token), expiresAt),
          account.version,
          appendContext(ctx, account.userId),
        );
      }
      return ok;
    },

    async login(
      input: { email: string; password: string; device?: string },
      ctx: RequestContext,
    ): Promise<TokenPair> {
      await limiter.hit(`login:ip:${ctx.ip}`, config.LOGIN_LIMIT_PER_IP, window);
      const account = await accountByEmail(normalizeEmail(input.email));
      const failures = account ? `login:fail:${account.userId}` : undefined;
      if (failures) await limiter.check(failures, config.LOGIN_FAILURES_PER_ACCOUNT, config.LOCKOUT_SECONDS);
      const valid = account?.passwordHash
        ? await verifyPassword(input.password, account.passwordHash)
        : (await verifyPassword(input.password, await dummyHash), false);
      if (!account || !valid) {
        if (failures) {
          await limiter.hit(failures, Number.MAX_SAFE_INTEGER, config.LOCKOUT_SECONDS);
          log.info({ userId: account?.userId, ip: ctx.ip }, 'failed log-in');
        }
        throw unauthorized('Wrong e-mail address or password');
      }
      if (failures) await limiter.reset(failures);
      assertActive(account);
      if (config.REQUIRE_VERIFIED_EMAIL && !account.emailVerified) {
        throw forbidden('Confirm your e-mail address first (see the mail we sent)', {
          details: { reason: 'email_not_verified' },
        });
      }
      if (account.passwordHash && needsRehash(account.passwordHash, argon)) {
        const passwordHash = await hashPassword(input.password, argon);
        await append(
          accountStream(account.userId),
          [{ type: 'account.password_changed', data: { passwordHash, reason: 'rehash' } }],
          account.version,
          appendContext(ctx, account.userId),
        ).catch((error: unknown) =>
          log.warn({ err: error, userId: account.userId }, 'password re-hash skipped'),
        );
      }
      const pair = await startSession(account, input.device ?? ctx.userAgent ?? 'unknown', ctx);
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
      await append(
        accountStream(principal.userId),
        [{ type: 'account.sessions_revoked', data: { reason: 'logout_all' } }],
        'any',
        appendContext(ctx, principal.userId),
      );
      await endLiveSessions(principal.userId, 'veche.close.logged_out');
      return ok;
    },

    async requestPasswordReset(emailInput: string, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP, window);
      const email = normalizeEmail(emailInput);
      await limiter.hit(`mail:email:${email.toLowerCase()}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await accountByEmail(email);
      if (account && account.status === 'active') {
        const resetToken = newOpaqueToken();
        const expiresAt = new Date(Date.now() + config.RESET_TOKEN_TTL_MINUTES * 60_000).toISOString();
        await append(
          accountStream(account.userId),
          [
            {
              type: 'account.password_reset_requested',
              data: {
                userId: account.userId,
                email: account.email,
                displayName: account.displayName,
                locale: account.locale,
                resetToken,
                expiresAt,
              },
            },
            { type: 'account.reset_issued', data: { tokenHash: hashToken(resetToken), expiresAt } },
          ],
          account.version,
          appendContext(ctx, account.userId),
        );
      }
      return ok;
    },

    async confirmPasswordReset(input: { token: string; password: string }, ctx: RequestContext) {
      await limiter.hit(`mail:ip:${ctx.ip}`, config.MAIL_LIMIT_PER_IP * 3, window);
      const live = await liveToken(input.token, 'reset');
      const account = await requireAccount(live.userId);
      assertActive(account);
      checkPasswordStrength(input.password, account.email);
      const passwordHash = await hashPassword(input.password, argon);
      await append(
        accountStream(account.userId),
        [
          {
            type: 'account.password_changed',
            data: { passwordHash, tokenHash: live.tokenHash, reason: 'reset' },
          },
          { type: 'account.sessions_revoked', data: { reason: 'password_reset' } },
          // Receiving the mail proves the address.
          ...(account.emailVerified
            ? []
            : [{ type: 'account.email_verified', data: { tokenHash: live.tokenHash } }]),
        ],
        account.version,
        appendContext(ctx, account.userId),
      );
      await limiter.reset(`login:fail:${account.userId}`);
      await endLiveSessions(account.userId, 'veche.close.password_reset');
      return ok;
    },

    async changePassword(
      principal: Principal,
      input: { currentPassword: string; newPassword: string },
      ctx: RequestContext,
    ) {
      const account = await requireAccount(principal.userId);
      const failures = `login:fail:${account.userId}`;
      await limiter.check(failures, config.LOGIN_FAILURES_PER_ACCOUNT, config.LOCKOUT_SECONDS);
      if (!account.passwordHash || !(await verifyPassword(input.currentPassword, account.passwordHash))) {
        await limiter.hit(failures, Number.MAX_SAFE_INTEGER, config.LOCKOUT_SECONDS);
        throw forbidden('The current password is wrong', {
          details: [{ path: '/currentPassword', message: 'wrong password' }],
        });
      }
      checkPasswordStrength(input.newPassword, account.email, '/newPassword');
      const passwordHash = await hashPassword(input.newPassword, argon);
      await append(
        accountStream(account.userId),
        [
          { type: 'account.password_changed', data: { passwordHash, reason: 'change' } },
          {
            type: 'account.sessions_revoked',
            data: { reason: 'password_changed', exceptSessionId: principal.sessionId },
          },
        ],
        account.version,
        appendContext(ctx, account.userId),
      );
      // Other devices' live WAMP sessions end; this device reconnects with its still-valid token.
      await endLiveSessions(account.userId, 'veche.close.password_changed');
      return ok;
    },

    async requestEmailChange(
      principal: Principal,
      input: { newEmail: string; password: string },
      ctx: RequestContext,
    ) {
      await limiter.hit(`mail:user:${principal.userId}`, config.MAIL_LIMIT_PER_ACCOUNT, window);
      const account = await requireAccount(principal.userId);
      if (!account.passwordHash || !(await verifyPassword(input.password, account.passwordHash))) {
        throw forbidden('The password is wrong', {
          details: [{ path: '/password', message: 'wrong password' }],
        });
      }
      const newEmail = normalizeEmail(input.newEmail);
      if (await accountByEmail(newEmail))
        throw conflict('This e-mail address is already in use', { details: { field: 'email' } });
      const token = newOpaqueToken();
      const expiresAt = new Date(Date.now() + config.VERIFICATION_TOKEN_TTL_HOURS * 3_600_000).toISOString();
      await append(
        accountStream(account.userId),
        [
          {
            type: 'account.email_change_requested',
            data: {
              userId: account.userId,
              currentEmail: account.email,
              newEmail,
              displayName: account.displayName,
              locale: account.locale,
              verificationToken: token,
            },
          },
          { type: 'account.email_change_issued', data: { tokenHash: hashToken(token), newEmail, expiresAt } },
        ],
        account.version,
        appendContext(ctx, account.userId),
      );
      return ok;
    },

    async confirmEmailChange(token: string, ctx: RequestContext) {
      const live = await liveToken(token, 'email_change');
      const account = await requireAccount(live.userId);
      if (!live.newEmail) throw validationError('This link is invalid, expired or already used');
      await append(
        accountStream(account.userId),
        [
          { type: 'account.email_changed', data: { userId: account.userId, email: live.newEmail } },
          { type: 'account.email_change_confirmed', data: { tokenHash: live.tokenHash } },
        ],
        account.version,
        appendContext(ctx, account.userId),
      );
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
      const events = profileEvents(account, change);
      if (events.length > 0)
        await append(
          accountStream(account.userId),
          events,
          account.version,
          appendContext(ctx, account.userId),
        );
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

    async setDisabled(admin: Principal, userId: string, disabled: boolean, ctx: RequestContext) {
      if (userId === admin.userId) throw conflict('Administrators cannot disable themselves');
      const account = await requireAccount(userId);
      if ((account.status === 'disabled') === disabled) return ok;
      const events: NewEvent[] = disabled
        ? [
            { type: 'account.disabled', data: { by: admin.userId } },
            { type: 'account.sessions_revoked', data: { reason: 'disabled' } },
          ]
        : [{ type: 'account.enabled', data: { by: admin.userId } }];
      await append(accountStream(userId), events, account.version, appendContext(ctx, admin.userId));
      log.info({ userId, by: admin.userId, disabled }, disabled ? 'account disabled' : 'account enabled');
      if (disabled) await endLiveSessions(userId, 'veche.close.account_disabled');
      return ok;
    },
  };
}
