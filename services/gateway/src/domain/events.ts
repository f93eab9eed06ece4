/**
 * The gateway's events. The `account.*` integration events are declared in @veche/contracts (the
 * mailer, chat and the presence-router read them); the rest stay in the gateway's own log: the
 * account's credentials and mail-link tokens (hashes only), and each session's life.
 */
import type { AccountEventData, AccountEventType } from '@veche/contracts';
import type { Role } from './account.ts';

type Integration = { [K in AccountEventType]: { type: K; data: AccountEventData[K] } }[AccountEventType];

type TokenIssued = { tokenHash: string; expiresAt: string };
type Internal =
  | { type: 'account.credentials_set'; data: { passwordHash: string; timeZone: string; role: Role } }
  | { type: 'account.verification_issued'; data: TokenIssued }
  | { type: 'account.reset_issued'; data: TokenIssued }
  | { type: 'account.email_change_issued'; data: TokenIssued & { newEmail: string } }
  | { type: 'account.email_verified'; data: { tokenHash: string } }
  | {
      type: 'account.password_changed';
      data: { passwordHash: string; reason: 'rehash' | 'reset' | 'change'; tokenHash?: string };
    }
  | {
      type: 'account.sessions_revoked';
      data: {
        reason: 'logout_all' | 'password_reset' | 'password_changed' | 'disabled';
        exceptSessionId?: string;
      };
    }
  | { type: 'account.email_change_confirmed'; data: { tokenHash: string } }
  /** An admin mapped Kerberos principals to the account (replacing its previous ones). */
  | { type: 'account.kerberos_principals_set'; data: { principals: string[]; by: string } };

/** Everything appended to `account-<userId>`. */
export type AccountEvent = Integration | Internal;

/** Everything appended to `session-<sessionId>`. */
export type SessionEvent =
  | {
      type: 'session.started';
      data: { userId: string; refreshTokenHash: string; device: string; ip: string; expiresAt: string };
    }
  | {
      type: 'session.refreshed';
      data: { refreshTokenHash: string; generation: number; ip: string; expiresAt: string };
    }
  | { type: 'session.revoked'; data: { reason: string } };
