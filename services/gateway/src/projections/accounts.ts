/**
 * The read models the API reads right after a write, updated inline in the append's transaction:
 * accounts, mail tokens, sessions and their refresh-token history. A unique index here (e-mail,
 * extension) is what turns a duplicate into a failed append.
 */
import { sql, type Transaction } from '@veche/db';
import type { InlineProjection, RecordedEvent } from '@veche/event-store';
import type { AccountEvent, SessionEvent } from '../domain/events.ts';
import { tablesOf, type MailTokenPurpose } from '../tables.ts';

/**
 * The event as the gateway appended it: its own streams hold only what its commands decided (the
 * types in domain/events.ts), so the recorded type and data are that union's.
 */
const asAppended = <E extends AccountEvent | SessionEvent>(event: RecordedEvent): E =>
  ({ type: event.type, data: event.data }) as E;

/** Ends every live mail link of these purposes: using one, or changing what it was for, ends the others. */
async function endTokens(
  trx: Transaction<unknown>,
  userId: string,
  purposes: readonly MailTokenPurpose[],
  at: string,
): Promise<void> {
  await tablesOf(trx)
    .updateTable('account_tokens')
    .set({ used_at: at })
    .where('user_id', '=', userId)
    .where('purpose', 'in', purposes)
    .where('used_at', 'is', null)
    .execute();
}

const issuedPurpose = {
  'account.verification_issued': 'verify',
  'account.reset_issued': 'reset',
  'account.email_change_issued': 'email_change',
} as const;

async function applyAccountEvent(trx: Transaction<unknown>, recorded: RecordedEvent): Promise<void> {
  const db = tablesOf(trx);
  const event = asAppended<AccountEvent>(recorded);
  const at = recorded.metadata.occurredAt;
  const userId = recorded.streamId.slice('account-'.length);
  const version = recorded.streamVersion;
  const account = () => db.updateTable('accounts').where('user_id', '=', userId);
  switch (event.type) {
    case 'account.registered': {
      const d = event.data;
      await db
        .insertInto('accounts')
        .values({
          user_id: userId,
          email: d.email,
          display_name: d.displayName,
          locale: d.locale,
          time_zone: 'UTC',
          version,
          created_at: at,
          updated_at: at,
        })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet((eb) => ({
            version: eb.ref('excluded.version'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .execute();
      return;
    }
    case 'account.credentials_set': {
      const d = event.data;
      await account()
        .set({ password_hash: d.passwordHash, time_zone: d.timeZone, role: d.role, version, updated_at: at })
        .execute();
      return;
    }
    case 'account.verification_issued':
    case 'account.reset_issued':
    case 'account.email_change_issued': {
      const purpose = issuedPurpose[event.type];
      // One live link per purpose: a new one supersedes those mailed before it.
      await endTokens(trx, userId, [purpose], at);
      await db
        .insertInto('account_tokens')
        .values({
          token_hash: event.data.tokenHash,
          purpose,
          user_id: userId,
          new_email: event.type === 'account.email_change_issued' ? event.data.newEmail : null,
          expires_at: event.data.expiresAt,
        })
        .execute();
      await account().set({ version }).execute();
      return;
    }
    case 'account.email_verified':
      await endTokens(trx, userId, ['verify'], at);
      await account().set({ email_verified: true, version, updated_at: at }).execute();
      return;
    case 'account.password_changed':
      // However it changed (a reset link, the settings, a re-hash): every reset link mailed before is dead.
      await endTokens(trx, userId, ['reset'], at);
      await account().set({ password_hash: event.data.passwordHash, version, updated_at: at }).execute();
      return;
    case 'account.sessions_revoked': {
      const d = event.data;
      await db
        .updateTable('sessions')
        .set({ revoked_at: at, revoked_reason: d.reason })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('session_id', 'is distinct from', d.exceptSessionId ?? null)
        .execute();
      await account().set({ version }).execute();
      return;
    }
    case 'account.email_changed':
      // Links mailed to or for the old address are dead: the address they proved is no longer the account's.
      await endTokens(trx, userId, ['verify', 'email_change'], at);
      await account()
        .set({ email: event.data.email, email_verified: true, version, updated_at: at })
        .execute();
      return;
    case 'account.email_change_confirmed':
      await endTokens(trx, userId, ['email_change'], at);
      await account().set({ version }).execute();
      return;
    case 'account.profile_updated': {
      const d = event.data;
      await account()
        .set({
          ...(d.displayName != null ? { display_name: d.displayName } : {}),
          ...(d.locale != null ? { locale: d.locale } : {}),
          version,
          updated_at: at,
        })
        .execute();
      return;
    }
    case 'account.directory_updated': {
      const d = event.data;
      await account()
        .set({
          ...(d.timeZone != null ? { time_zone: d.timeZone } : {}),
          // A present `extension` sets it, null included (the number given up); an absent one keeps it.
          ...('extension' in d ? { extension: d.extension ?? null } : {}),
          version,
          updated_at: at,
        })
        .execute();
      return;
    }
    case 'account.disabled':
    case 'account.enabled':
      await account()
        .set({ status: event.type === 'account.disabled' ? 'disabled' : 'active', version, updated_at: at })
        .execute();
      return;
    case 'account.kerberos_principals_set': {
      // The admin states the whole list: the account's principals are exactly these from now on.
      const principals = event.data.principals;
      await db.deleteFrom('kerberos_principals').where('user_id', '=', userId).execute();
      for (const principal of principals) {
        await db
          .insertInto('kerberos_principals')
          .values({ principal, user_id: userId, linked_at: at })
          .execute();
      }
      await account().set({ version, updated_at: at }).execute();
      return;
    }
    case 'account.password_reset_requested':
    case 'account.email_change_requested':
    case 'account.registration_attempted':
    default:
      // Events only other readers care about (and any older type in the log) still move the version.
      await account().set({ version }).execute();
  }
}

async function applySessionEvent(trx: Transaction<unknown>, recorded: RecordedEvent): Promise<void> {
  const db = tablesOf(trx);
  const event = asAppended<SessionEvent>(recorded);
  const at = recorded.metadata.occurredAt;
  const sessionId = recorded.streamId.slice('session-'.length);
  const version = recorded.streamVersion;
  const session = () => db.updateTable('sessions').where('session_id', '=', sessionId);
  switch (event.type) {
    case 'session.started': {
      const d = event.data;
      await db
        .insertInto('sessions')
        .values({
          session_id: sessionId,
          user_id: d.userId,
          version,
          generation: 1,
          device: d.device,
          ip: d.ip,
          created_at: at,
          last_seen_at: at,
          expires_at: d.expiresAt,
        })
        .execute();
      await db
        .insertInto('refresh_tokens')
        .values({ token_hash: d.refreshTokenHash, session_id: sessionId, generation: 1 })
        .execute();
      return;
    }
    case 'session.refreshed': {
      const d = event.data;
      await session()
        .set({ generation: d.generation, ip: d.ip, last_seen_at: at, expires_at: d.expiresAt, version })
        .execute();
      await db
        .insertInto('refresh_tokens')
        .values({ token_hash: d.refreshTokenHash, session_id: sessionId, generation: d.generation })
        .execute();
      return;
    }
    case 'session.revoked':
      await session()
        .set((eb) => ({
          revoked_at: eb.fn.coalesce('revoked_at', eb.val(at)),
          revoked_reason: eb.fn.coalesce('revoked_reason', eb.val(event.data.reason)),
          version,
        }))
        .execute();
      return;
    default:
      await session().set({ version }).execute();
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
  // One statement for the five tables (the builder has no truncate).
  await sql`truncate kerberos_principals, refresh_tokens, sessions, account_tokens, accounts`.execute(trx);
}
