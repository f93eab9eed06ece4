/**
 * The account's rules, pure: what a valid name, address and time zone are, and which events each
 * command produces. The account's state comes from its read model (updated in the append's own
 * transaction, so it is exactly the stream's state at `version`); the append's expected version makes
 * a decision taken on stale state fail with `conflict`.
 */
import { conflict, forbidden, notFound, validationError } from '@veche/errors';
import type { AccountEvent } from './events.ts';

export type Role = 'user' | 'admin';
export type Status = 'active' | 'disabled';

export interface AccountState {
  userId: string;
  email: string;
  emailVerified: boolean;
  passwordHash: string | null;
  displayName: string;
  locale: 'en' | 'ru';
  timeZone: string;
  extension: string | null;
  role: Role;
  status: Status;
  version: number;
}

/** Integration events: published to RabbitMQ by the outbox relay in the shapes of the mailer's contract. */
export const integrationEventTypes = [
  'account.registered',
  'account.password_reset_requested',
  'account.email_change_requested',
  'account.email_changed',
  'account.profile_updated',
  'account.registration_attempted',
  // The presence-router's directory (extension numbers, disabled accounts).
  'account.directory_updated',
  'account.disabled',
  'account.enabled',
] as const;

export const accountStream = (userId: string) => `account-${userId}`;
export const sessionStream = (sessionId: string) => `session-${sessionId}`;

// Controls, bidirectional overrides/isolates, and line/paragraph separators: they let a name pose as
// another or break the layout of every client that shows it.
const forbiddenInName = /[\p{Cc}\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF]/u;

/** NFC-normalised, trimmed; rejects what would let one name impersonate another. */
export function normalizeDisplayName(raw: string): string {
  if (!raw.isWellFormed())
    throw validationError('The display name is not valid Unicode', {
      details: [{ path: '/displayName', message: 'lone surrogate' }],
    });
  const name = raw.normalize('NFC').trim();
  if (name.length === 0 || name.length > 64) {
    throw validationError('The display name must have 1 to 64 visible characters', {
      details: [{ path: '/displayName', message: 'empty after trimming or too long' }],
    });
  }
  if (forbiddenInName.test(name)) {
    throw validationError('The display name contains control or direction-changing characters', {
      details: [{ path: '/displayName', message: 'forbidden character' }],
    });
  }
  return name;
}

/** The domain part in lower case; the local part as typed (uniqueness ignores case anyway). */
export function normalizeEmail(raw: string): string {
  const at = raw.lastIndexOf('@');
  return `${raw.slice(0, at)}@${raw.slice(at + 1).toLowerCase()}`;
}

const zones = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/UTC']);

export function checkTimeZone(zone: string): string {
  if (!zones.has(zone)) {
    throw validationError('Unknown time zone', {
      details: [{ path: '/timeZone', message: 'not an IANA time zone' }],
    });
  }
  return zone;
}

export function checkPasswordStrength(password: string, email: string, path = '/password'): void {
  if (!password.isWellFormed())
    throw validationError('The password is not valid Unicode', {
      details: [{ path, message: 'lone surrogate' }],
    });
  if (new Set(password).size < 4 || password.toLowerCase() === email.toLowerCase()) {
    throw validationError('The password is too easy to guess', {
      details: [{ path, message: 'too simple' }],
    });
  }
}

export function assertActive(account: AccountState): void {
  if (account.status !== 'active') throw forbidden('This account is disabled');
}

export interface RegistrationFacts {
  userId: string;
  email: string;
  displayName: string;
  locale: 'en' | 'ru';
  timeZone: string;
  passwordHash: string;
  /** The verification token sealed for the mailer (`@veche/contracts` mail-token); never the token itself. */
  sealedVerificationToken: string;
  verificationTokenHash: string;
  verificationExpiresAt: string;
  role: Role;
}

export function registrationEvents(f: RegistrationFacts): AccountEvent[] {
  return [
    {
      type: 'account.registered',
      data: {
        userId: f.userId,
        email: f.email,
        displayName: f.displayName,
        locale: f.locale,
        sealedToken: f.sealedVerificationToken,
      },
    },
    {
      type: 'account.credentials_set',
      data: { passwordHash: f.passwordHash, timeZone: f.timeZone, role: f.role },
    },
    {
      type: 'account.verification_issued',
      data: { tokenHash: f.verificationTokenHash, expiresAt: f.verificationExpiresAt },
    },
  ];
}

/** Resending repeats `account.registered` with a fresh token: the mailer sends a verification mail for each. */
export function resendEvents(
  account: AccountState,
  sealedToken: string,
  tokenHash: string,
  expiresAt: string,
): AccountEvent[] {
  return [
    {
      type: 'account.registered',
      data: {
        userId: account.userId,
        email: account.email,
        displayName: account.displayName,
        locale: account.locale,
        sealedToken,
      },
    },
    { type: 'account.verification_issued', data: { tokenHash, expiresAt } },
  ];
}

export interface ProfileChange {
  displayName?: string;
  locale?: 'en' | 'ru';
  timeZone?: string;
  extension?: string | null;
}

export function profileEvents(account: AccountState, change: ProfileChange): AccountEvent[] {
  const events: AccountEvent[] = [];
  const displayName =
    change.displayName !== undefined && change.displayName !== account.displayName
      ? change.displayName
      : undefined;
  const locale = change.locale !== undefined && change.locale !== account.locale ? change.locale : undefined;
  if (displayName !== undefined || locale !== undefined) {
    events.push({
      type: 'account.profile_updated',
      data: {
        userId: account.userId,
        ...(displayName === undefined ? {} : { displayName }),
        ...(locale === undefined ? {} : { locale }),
      },
    });
  }
  const timeZone =
    change.timeZone !== undefined && change.timeZone !== account.timeZone ? change.timeZone : undefined;
  const extension =
    change.extension !== undefined && change.extension !== account.extension ? change.extension : undefined;
  if (timeZone !== undefined || extension !== undefined)
    events.push({
      type: 'account.directory_updated',
      data: {
        userId: account.userId,
        ...(timeZone === undefined ? {} : { timeZone }),
        ...(extension === undefined ? {} : { extension }),
      },
    });
  return events;
}

/**
 * The account after one of its events, pure: what the read model's `accounts` row holds, so the
 * state commands decide on is the stream folded by `evolve` (a test checks the two agree).
 */
export function evolve(state: AccountState | undefined, event: AccountEvent): AccountState | undefined {
  if (event.type === 'account.registered') {
    if (state) return { ...state, version: state.version + 1 }; // a resend repeats it with a fresh token
    const d = event.data;
    return {
      userId: d.userId,
      email: d.email,
      emailVerified: false,
      passwordHash: null,
      displayName: d.displayName,
      locale: d.locale === 'ru' ? 'ru' : 'en',
      timeZone: 'UTC',
      extension: null,
      role: 'user',
      status: 'active',
      version: 1,
    };
  }
  if (!state) return state;
  const next: AccountState = { ...state, version: state.version + 1 };
  switch (event.type) {
    case 'account.credentials_set':
      return {
        ...next,
        passwordHash: event.data.passwordHash,
        timeZone: event.data.timeZone,
        role: event.data.role,
      };
    case 'account.email_verified':
      return { ...next, emailVerified: true };
    case 'account.password_changed':
      return { ...next, passwordHash: event.data.passwordHash };
    case 'account.email_changed':
      return { ...next, email: event.data.email, emailVerified: true };
    case 'account.profile_updated': {
      const { displayName, locale } = event.data;
      return {
        ...next,
        ...(displayName === undefined ? {} : { displayName }),
        ...(locale === undefined ? {} : { locale: locale === 'ru' ? 'ru' : 'en' }),
      };
    }
    case 'account.directory_updated': {
      const { timeZone, extension } = event.data;
      return {
        ...next,
        ...(timeZone === undefined ? {} : { timeZone }),
        ...(extension === undefined ? {} : { extension }),
      };
    }
    case 'account.disabled':
      return { ...next, status: 'disabled' };
    case 'account.enabled':
      return { ...next, status: 'active' };
    case 'account.verification_issued':
    case 'account.reset_issued':
    case 'account.email_change_issued':
    case 'account.sessions_revoked':
    case 'account.email_change_confirmed':
    case 'account.kerberos_principals_set':
    case 'account.password_reset_requested':
    case 'account.email_change_requested':
    case 'account.registration_attempted':
      return next; // tokens, sessions and mails: other tables and other services, not this state
  }
}

/** An account's state from its events, in order. */
export const foldAccount = (events: readonly AccountEvent[]): AccountState | undefined =>
  events.reduce<AccountState | undefined>(evolve, undefined);

/**
 * Every command on an account. What needs I/O (hashing a password, sealing a mail token, checking a
 * token or an address against the read model) is done before, and its result is part of the command.
 */
export type AccountCommand =
  | { type: 'register'; facts: RegistrationFacts }
  /** Someone registered this account's address again: the owner is told by mail (ADR 0007, 10). */
  | { type: 'noteRegistrationAttempt' }
  | { type: 'resendVerification'; sealedToken: string; tokenHash: string; expiresAt: string }
  | { type: 'verifyEmail'; tokenHash: string }
  /** The password checked at log-in, hashed again with today's parameters. */
  | { type: 'rehashPassword'; passwordHash: string }
  | { type: 'requestPasswordReset'; sealedToken: string; tokenHash: string; expiresAt: string }
  | { type: 'resetPassword'; passwordHash: string; tokenHash: string }
  /** Every session but the one it was changed from ends. */
  | { type: 'changePassword'; passwordHash: string; exceptSessionId: string }
  | { type: 'logoutEverywhere' }
  | {
      type: 'requestEmailChange';
      newEmail: string;
      sealedToken: string;
      tokenHash: string;
      expiresAt: string;
    }
  | { type: 'confirmEmailChange'; newEmail: string; tokenHash: string }
  | { type: 'changeProfile'; change: ProfileChange }
  | { type: 'setKerberosPrincipals'; by: string; principals: readonly string[] }
  | { type: 'setDisabled'; by: string; disabled: boolean };

/**
 * The events a command appends to the account (none when nothing changes); throws when refused.
 * `state` is undefined for an account that does not exist yet: only `register` accepts that.
 */
export function decide(state: AccountState | undefined, command: AccountCommand): AccountEvent[] {
  if (command.type === 'register') {
    if (state) throw conflict('Already exists');
    return registrationEvents(command.facts);
  }
  if (!state) throw notFound('No such user');
  switch (command.type) {
    case 'noteRegistrationAttempt':
      return [
        {
          type: 'account.registration_attempted',
          data: {
            userId: state.userId,
            email: state.email,
            displayName: state.displayName,
            locale: state.locale,
          },
        },
      ];
    case 'resendVerification':
      // Nothing to send for an address already proven, or to an account that is disabled.
      if (state.emailVerified || state.status !== 'active') return [];
      return resendEvents(state, command.sealedToken, command.tokenHash, command.expiresAt);
    case 'verifyEmail':
      // Appended even when already verified: it ends the link that was used.
      return [{ type: 'account.email_verified', data: { tokenHash: command.tokenHash } }];
    case 'rehashPassword':
      return [
        { type: 'account.password_changed', data: { passwordHash: command.passwordHash, reason: 'rehash' } },
      ];
    case 'requestPasswordReset':
      // A disabled account gets no mail; the answer does not tell (the caller answers the same).
      if (state.status !== 'active') return [];
      return [
        {
          type: 'account.password_reset_requested',
          data: {
            userId: state.userId,
            email: state.email,
            displayName: state.displayName,
            locale: state.locale,
            sealedToken: command.sealedToken,
            expiresAt: command.expiresAt,
          },
        },
        {
          type: 'account.reset_issued',
          data: { tokenHash: command.tokenHash, expiresAt: command.expiresAt },
        },
      ];
    case 'resetPassword':
      assertActive(state);
      return [
        {
          type: 'account.password_changed',
          data: { passwordHash: command.passwordHash, tokenHash: command.tokenHash, reason: 'reset' },
        },
        { type: 'account.sessions_revoked', data: { reason: 'password_reset' } },
        // Receiving the mail proves the address.
        ...(state.emailVerified
          ? []
          : [{ type: 'account.email_verified' as const, data: { tokenHash: command.tokenHash } }]),
      ];
    case 'changePassword':
      return [
        { type: 'account.password_changed', data: { passwordHash: command.passwordHash, reason: 'change' } },
        {
          type: 'account.sessions_revoked',
          data: { reason: 'password_changed', exceptSessionId: command.exceptSessionId },
        },
      ];
    case 'logoutEverywhere':
      return [{ type: 'account.sessions_revoked', data: { reason: 'logout_all' } }];
    case 'requestEmailChange':
      return [
        {
          type: 'account.email_change_requested',
          data: {
            userId: state.userId,
            currentEmail: state.email,
            newEmail: command.newEmail,
            displayName: state.displayName,
            locale: state.locale,
            sealedToken: command.sealedToken,
          },
        },
        {
          type: 'account.email_change_issued',
          data: { tokenHash: command.tokenHash, newEmail: command.newEmail, expiresAt: command.expiresAt },
        },
      ];
    case 'confirmEmailChange':
      return [
        { type: 'account.email_changed', data: { userId: state.userId, email: command.newEmail } },
        { type: 'account.email_change_confirmed', data: { tokenHash: command.tokenHash } },
      ];
    case 'changeProfile':
      return profileEvents(state, command.change);
    case 'setKerberosPrincipals':
      return [
        {
          type: 'account.kerberos_principals_set',
          data: { principals: [...new Set(command.principals)].sort(), by: command.by },
        },
      ];
    case 'setDisabled': {
      if (command.by === state.userId) throw conflict('Administrators cannot disable themselves');
      if ((state.status === 'disabled') === command.disabled) return [];
      const { userId } = state;
      return command.disabled
        ? [
            { type: 'account.disabled', data: { userId, by: command.by } },
            { type: 'account.sessions_revoked', data: { reason: 'disabled' } },
          ]
        : [{ type: 'account.enabled', data: { userId, by: command.by } }];
    }
  }
}
