/**
 * The read models the API reads right after a write, updated inline in the append's transaction:
 * accounts, mail tokens, sessions and their refresh-token history. A unique index here (e-mail,
 * extension) is what turns a duplicate into a failed append.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';

type Data = Record<string, unknown>;

type TokenPurpose = 'verify' | 'reset' | 'email_change';

/** Ends every live mail link of these purposes: using one, or changing what it was for, ends the others. */
async function endTokens(
  trx: Transaction<unknown>,
  userId: string,
  purposes: readonly TokenPurpose[],
  at: string,
): Promise<void> {
  await sql`
    update account_tokens set used_at = ${at}
    where user_id = ${userId} and purpose = any(${[...purposes]}::text[]) and used_at is null`.execute(trx);
}

async function applyAccountEvent(trx: Transaction<unknown>, event: RecordedEvent): Promise<void> {
  const d = event.data as Data;
  const at = event.metadata.occurredAt;
  const userId = event.streamId.slice('account-'.length);
  const v = event.streamVersion;
  switch (event.type) {
    case 'account.registered':
      await sql`
        insert into accounts (user_id, email, display_name, locale, time_zone, version, created_at, updated_at)
        values (${userId}, ${d['email']}, ${d['displayName']}, ${d['locale']}, 'UTC', ${v}, ${at}, ${at})
        on conflict (user_id) do update set version = excluded.version, updated_at = excluded.updated_at`.execute(
        trx,
      );
      return;
    case 'account.credentials_set':
      await sql`
        update accounts set password_hash = ${d['passwordHash']}, time_zone = ${d['timeZone']}, role = ${d['role']},
          version = ${v}, updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.verification_issued':
    case 'account.reset_issued':
    case 'account.email_change_issued': {
      const purpose =
        event.type === 'account.verification_issued'
          ? 'verify'
          : event.type === 'account.reset_issued'
            ? 'reset'
            : 'email_change';
      // One live link per purpose: a new one supersedes those mailed before it.
      await endTokens(trx, userId, [purpose], at);
      await sql`
        insert into account_tokens (token_hash, purpose, user_id, new_email, expires_at)
        values (${d['tokenHash']}, ${purpose}, ${userId}, ${d['newEmail'] ?? null}, ${d['expiresAt']})`.execute(
        trx,
      );
      await sql`update accounts set version = ${v} where user_id = ${userId}`.execute(trx);
      return;
    }
    case 'account.email_verified':
      await endTokens(trx, userId, ['verify'], at);
      await sql`update accounts set email_verified = true, version = ${v}, updated_at = ${at} where user_id = ${userId}`.execute(
        trx,
      );
      return;
    case 'account.password_changed':
      // However it changed (a reset link, the settings, a re-hash): every reset link mailed before is dead.
      await endTokens(trx, userId, ['reset'], at);
      await sql`
        update accounts set password_hash = ${d['passwordHash']}, version = ${v}, updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.sessions_revoked':
      await sql`
        update sessions set revoked_at = ${at}, revoked_reason = ${d['reason']}
        where user_id = ${userId} and revoked_at is null
          and session_id is distinct from ${d['exceptSessionId'] ?? null}`.execute(trx);
      await sql`update accounts set version = ${v} where user_id = ${userId}`.execute(trx);
      return;
    case 'account.email_changed':
      // Links mailed to or for the old address are dead: the address they proved is no longer the account's.
      await endTokens(trx, userId, ['verify', 'email_change'], at);
      await sql`
        update accounts set email = ${d['email']}, email_verified = true, version = ${v}, updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.email_change_confirmed':
      await endTokens(trx, userId, ['email_change'], at);
      await sql`update accounts set version = ${v} where user_id = ${userId}`.execute(trx);
      return;
    case 'account.profile_updated':
      await sql`
        update accounts set display_name = coalesce(${d['displayName'] ?? null}, display_name),
          locale = coalesce(${d['locale'] ?? null}, locale), version = ${v}, updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.directory_updated':
      await sql`
        update accounts set
          time_zone = coalesce(${d['timeZone'] ?? null}, time_zone),
          extension = case when ${'extension' in d}::boolean then ${d['extension'] ?? null}::text else extension end,
          version = ${v}, updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.disabled':
    case 'account.enabled':
      await sql`
        update accounts set status = ${event.type === 'account.disabled' ? 'disabled' : 'active'}, version = ${v},
          updated_at = ${at}
        where user_id = ${userId}`.execute(trx);
      return;
    case 'account.kerberos_principals_set': {
      // The admin states the whole list: the account's principals are exactly these from now on.
      const principals = (d['principals'] as string[] | undefined) ?? [];
      await sql`delete from kerberos_principals where user_id = ${userId}`.execute(trx);
      for (const principal of principals) {
        await sql`
          insert into kerberos_principals (principal, user_id, linked_at)
          values (${principal}, ${userId}, ${at})`.execute(trx);
      }
      await sql`update accounts set version = ${v}, updated_at = ${at} where user_id = ${userId}`.execute(
        trx,
      );
      return;
    }
    default:
      // Events only other readers care about (password_reset_requested, email_change_requested) still move the version.
      await sql`update accounts set version = ${v} where user_id = ${userId}`.execute(trx);
  }
}

async function applySessionEvent(trx: Transaction<unknown>, event: RecordedEvent): Promise<void> {
  const d = event.data as Data;
  const at = event.metadata.occurredAt;
  const sessionId = event.streamId.slice('session-'.length);
  const v = event.streamVersion;
  switch (event.type) {
    case 'session.started':
      await sql`
        insert into sessions (session_id, user_id, version, generation, device, ip, created_at, last_seen_at, expires_at)
        values (${sessionId}, ${d['userId']}, ${v}, 1, ${d['device']}, ${d['ip']}, ${at}, ${at}, ${d['expiresAt']})`.execute(
        trx,
      );
      await sql`
        insert into refresh_tokens (token_hash, session_id, generation)
        values (${d['refreshTokenHash']}, ${sessionId}, 1)`.execute(trx);
      return;
    case 'session.refreshed':
      await sql`
        update sessions set generation = ${d['generation']}, ip = ${d['ip']}, last_seen_at = ${at},
          expires_at = ${d['expiresAt']}, version = ${v}
        where session_id = ${sessionId}`.execute(trx);
      await sql`
        insert into refresh_tokens (token_hash, session_id, generation)
        values (${d['refreshTokenHash']}, ${sessionId}, ${d['generation']})`.execute(trx);
      return;
    case 'session.revoked':
      await sql`
        update sessions set revoked_at = coalesce(revoked_at, ${at}), revoked_reason = coalesce(revoked_reason, ${d['reason']}),
          version = ${v}
        where session_id = ${sessionId}`.execute(trx);
      return;
    default:
      await sql`update sessions set version = ${v} where session_id = ${sessionId}`.execute(trx);
  }
}

export const accountsProjection: InlineProjection = {
  name: 'gateway.accounts',
  reset: resetAccounts,
  async apply(trx, events) {
    for (const event of events) {
      if (event.streamId.startsWith('account-')) await applyAccountEvent(trx, event);
      else if (event.streamId.startsWith('session-')) await applySessionEvent(trx, event);
    }
  },
};

/** Empties the read models, for a rebuild from the log. */
export async function resetAccounts(trx: Transaction<unknown>): Promise<void> {
  await sql`truncate kerberos_principals, refresh_tokens, sessions, account_tokens, accounts`.execute(trx);
}
