/**
 * Account sessions: starting one (a token pair), checking an access token against it, refreshing it
 * (a refresh token spent twice ends the whole session, bar a lost reply's retry), listing and ending them, and ending the live
 * WAMP sessions opened with their tokens.
 */
import { randomUUID } from 'node:crypto';
import { isVecheError, notFound, unauthorized, unavailable } from '@veche/errors';
import { sessionStream, type AccountState } from '../domain/account.ts';
import { hashToken, newOpaqueToken, type VerifiedAccess } from '../domain/tokens.ts';
import { tablesOf } from '../tables.ts';
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
  const row = await tablesOf(c.db)
    .selectFrom('sessions as s')
    .innerJoin('accounts as a', 'a.user_id', 's.user_id')
    .select(['a.status', 'a.role', 's.revoked_at', 's.expires_at'])
    .where('s.session_id', '=', claims.sessionId)
    .where('s.user_id', '=', claims.userId)
    .executeTakeFirst();
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

/**
 * Spends a refresh token for a new pair. A token of an older generation is a reuse and ends the whole
 * session (one of its two holders is not the owner), except the one just replaced, within
 * REFRESH_TOKEN_REUSE_LEEWAY_SECONDS of its replacement: the reply carrying its successor can be lost
 * (the page reloaded while the request was in flight, the gateway died after the commit, the
 * connection dropped), and the owner then presents it again (Auth0's reuse interval, Okta's grace
 * period). That second spend rotates again, from the current generation.
 */
export async function refresh(
  c: AccountsContext,
  refreshToken: string,
  ctx: RequestContext,
): Promise<TokenPair> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await refreshOnce(c, refreshToken, ctx);
    } catch (error) {
      // Spent twice at the same moment: the loser reads the session again, and is then the token
      // just replaced (rotated once more within the leeway) or a reuse (the session ends).
      if (!(error instanceof RefreshRace)) throw error;
      if (attempt === 3)
        throw unavailable('The session is being refreshed elsewhere; try again', {
          details: { reason: 'busy' },
        });
    }
  }
}

class RefreshRace extends Error {}

async function refreshOnce(
  c: AccountsContext,
  refreshToken: string,
  ctx: RequestContext,
): Promise<TokenPair> {
  const tokenHash = hashToken(refreshToken);
  const row = await tablesOf(c.db)
    .selectFrom('refresh_tokens as t')
    .innerJoin('sessions as s', 's.session_id', 't.session_id')
    .select([
      't.session_id',
      't.generation as token_generation',
      's.generation',
      's.version',
      's.revoked_at',
      's.expires_at',
      's.last_seen_at as rotated_at',
      's.user_id',
    ])
    .where('t.token_hash', '=', tokenHash)
    .executeTakeFirst();
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
  if (row.token_generation !== row.generation) {
    const justReplaced =
      row.token_generation === row.generation - 1 &&
      Date.now() - row.rotated_at.getTime() < c.config.REFRESH_TOKEN_REUSE_LEEWAY_SECONDS * 1000;
    if (!justReplaced) throw await reuse();
    c.log.info(
      { sessionId: row.session_id, userId: row.user_id, ip: ctx.ip },
      'the refresh token just replaced was spent again within the leeway: rotated once more',
    );
  }
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
    if (isVecheError(error, 'conflict')) throw new RefreshRace('refresh raced another spend of its token');
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
  const rows = await tablesOf(c.db)
    .selectFrom('sessions')
    .select(['session_id', 'device', 'ip', 'created_at', 'last_seen_at'])
    .where('user_id', '=', principal.userId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb('expires_at', '>', eb.fn<Date>('now')))
    .orderBy('last_seen_at', 'desc')
    .limit(200)
    .execute();
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
  const live = await tablesOf(c.db)
    .selectFrom('sessions')
    .select('session_id')
    .where('session_id', '=', sessionId)
    .where('user_id', '=', principal.userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (!live) throw notFound('No such session', { details: { sessionId } });
  await revokeSession(c, sessionId, 'revoked_by_user', ctx, principal.userId);
  return ok;
}
