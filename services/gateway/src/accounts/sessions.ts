/**
 * Account sessions: starting one (a token pair), checking an access token against it, refreshing it
 * (a refresh token spent twice ends the whole session), listing and ending them, and ending the live
 * WAMP sessions opened with their tokens.
 */
import { randomUUID } from 'node:crypto';
import { sql } from '@veche/db';
import { isVecheError, notFound, unauthorized } from '@veche/errors';
import { sessionStream, type AccountState, type Role } from '../domain/account.ts';
import { hashToken, newOpaqueToken, type VerifiedAccess } from '../domain/tokens.ts';
import { append, execute } from './append.ts';
import {
  appendContext,
  ok,
  type AccountsContext,
  type Principal,
  type RequestContext,
  type TokenPair,
} from './context.ts';
import { requireAccount } from './read-model.ts';

/**
 * Ends the WAMP sessions the event just committed doomed (every way an account session ends). The
 * request waits for a first attempt, so a device is normally cut off before the answer; a kill that
 * fails now is retried until the router confirms it (wamp-sessions.ts), not forgotten.
 */
export async function endLiveSessions(c: AccountsContext, userId: string, disabled = false): Promise<void> {
  try {
    if (disabled) await c.killWampSessionsOf?.(userId, 'veche.close.account_disabled');
    await c.endDoomedWampSessions?.();
  } catch (error) {
    c.log.warn(
      { err: error, userId },
      'could not end the live WAMP sessions yet (retried in the background)',
    );
  }
}

/** Ends one account session, and the WAMP sessions opened with its tokens (every way it can end). */
export async function revokeSession(
  c: AccountsContext,
  sessionId: string,
  reason: string,
  ctx: RequestContext,
  actor: string,
) {
  await append(
    c,
    sessionStream(sessionId),
    [{ type: 'session.revoked', data: { reason } }],
    'any',
    appendContext(ctx, actor),
  );
  await endLiveSessions(c, actor);
}

const refreshExpiry = (c: AccountsContext) =>
  new Date(Date.now() + c.config.REFRESH_TOKEN_TTL_DAYS * 86_400_000).toISOString();

export async function startSession(
  c: AccountsContext,
  account: AccountState,
  device: string,
  ctx: RequestContext,
): Promise<TokenPair> {
  const sessionId = randomUUID();
  const refreshToken = newOpaqueToken();
  await append(
    c,
    sessionStream(sessionId),
    [
      {
        type: 'session.started',
        data: {
          userId: account.userId,
          refreshTokenHash: hashToken(refreshToken),
          device: device.slice(0, 200),
          ip: ctx.ip,
          expiresAt: refreshExpiry(c),
        },
      },
    ],
    'no_stream',
    appendContext(ctx, account.userId),
  );
  const { token, expiresIn } = await c.access.sign({ userId: account.userId, sessionId, role: account.role });
  return { accessToken: token, refreshToken, expiresIn, userId: account.userId, sessionId };
}

/** The principal behind an access token, checked against the live session and account. */
export async function authenticate(c: AccountsContext, accessToken: string): Promise<Principal> {
  const claims: VerifiedAccess = await c.access.verify(accessToken);
  const { rows } = await sql<{ status: string; role: Role; revoked_at: Date | null; expires_at: Date }>`
    select a.status, a.role, s.revoked_at, s.expires_at from sessions s join accounts a using (user_id)
    where s.session_id = ${claims.sessionId} and s.user_id = ${claims.userId}`.execute(c.db);
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
}

export async function refresh(
  c: AccountsContext,
  refreshToken: string,
  ctx: RequestContext,
): Promise<TokenPair> {
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
    from refresh_tokens t join sessions s using (session_id) where t.token_hash = ${tokenHash}`.execute(c.db);
  const row = rows[0];
  if (!row || row.revoked_at !== null || row.expires_at.getTime() <= Date.now()) {
    throw unauthorized('Invalid refresh token', { details: { reason: 'invalid' } });
  }
  const reuse = async () => {
    c.log.warn(
      { sessionId: row.session_id, userId: row.user_id, ip: ctx.ip },
      'refresh token reused: session family revoked',
    );
    await revokeSession(c, row.session_id, 'refresh_token_reuse', ctx, row.user_id);
    return unauthorized('This refresh token was already used; the session has been ended', {
      details: { reason: 'reused' },
    });
  };
  if (row.token_generation !== row.generation) throw await reuse();
  const account = await requireAccount(c.db, row.user_id);
  if (account.status !== 'active')
    throw unauthorized('The account is disabled', { details: { reason: 'disabled' } });
  const next = newOpaqueToken();
  try {
    await append(
      c,
      sessionStream(row.session_id),
      [
        {
          type: 'session.refreshed',
          data: {
            refreshTokenHash: hashToken(next),
            generation: row.generation + 1,
            ip: ctx.ip,
            expiresAt: refreshExpiry(c),
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
  const { token, expiresIn } = await c.access.sign({
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
}

export async function logout(c: AccountsContext, principal: Principal, ctx: RequestContext) {
  await revokeSession(c, principal.sessionId, 'logout', ctx, principal.userId);
  return ok;
}

export async function logoutEverywhere(c: AccountsContext, principal: Principal, ctx: RequestContext) {
  const account = await requireAccount(c.db, principal.userId);
  await execute(c, account, { type: 'logoutEverywhere' }, ctx, principal.userId, 'any');
  await endLiveSessions(c, principal.userId);
  return ok;
}

export async function listSessions(c: AccountsContext, principal: Principal) {
  const { rows } = await sql<{
    session_id: string;
    device: string;
    ip: string;
    created_at: Date;
    last_seen_at: Date;
  }>`
    select session_id, device, ip, created_at, last_seen_at from sessions
    where user_id = ${principal.userId} and revoked_at is null and expires_at > now()
    order by last_seen_at desc limit 200`.execute(c.db);
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
}

export async function revokeOwnSession(
  c: AccountsContext,
  principal: Principal,
  sessionId: string,
  ctx: RequestContext,
) {
  const { rows } =
    await sql`select 1 from sessions where session_id = ${sessionId} and user_id = ${principal.userId} and revoked_at is null`.execute(
      c.db,
    );
  if (rows.length === 0) throw notFound('No such session', { details: { sessionId } });
  await revokeSession(c, sessionId, 'revoked_by_user', ctx, principal.userId);
  return ok;
}
