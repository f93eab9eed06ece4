/**
 * The account's rules, pure: what a valid name, address and time zone are, and which events each
 * command produces. The account's state comes from its read model (updated in the append's own
 * transaction, so it is exactly the stream's state at `version`); the append's expected version makes
 * a decision taken on stale state fail with `conflict`.
 */
import { forbidden, validationError } from '@veche/errors';
import type { NewEvent } from '@veche/event-store';

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
  verificationToken: string;
  verificationTokenHash: string;
  verificationExpiresAt: string;
  role: Role;
}

export function registrationEvents(f: RegistrationFacts): NewEvent[] {
  return [
    {
      type: 'account.registered',
      data: {
        userId: f.userId,
        email: f.email,
        displayName: f.displayName,
        locale: f.locale,
        verificationToken: f.verificationToken,
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
  token: string,
  tokenHash: string,
  expiresAt: string,
): NewEvent[] {
  return [
    {
      type: 'account.registered',
      data: {
        userId: account.userId,
        email: account.email,
        displayName: account.displayName,
        locale: account.locale,
        verificationToken: token,
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

export function profileEvents(account: AccountState, change: ProfileChange): NewEvent[] {
  const events: NewEvent[] = [];
  const mailerFields: Record<string, string> = {};
  if (change.displayName !== undefined && change.displayName !== account.displayName)
    mailerFields['displayName'] = change.displayName;
  if (change.locale !== undefined && change.locale !== account.locale) mailerFields['locale'] = change.locale;
  if (Object.keys(mailerFields).length > 0) {
    events.push({ type: 'account.profile_updated', data: { userId: account.userId, ...mailerFields } });
  }
  const directory: Record<string, string | null> = {};
  if (change.timeZone !== undefined && change.timeZone !== account.timeZone)
    directory['timeZone'] = change.timeZone;
  if (change.extension !== undefined && change.extension !== account.extension)
    directory['extension'] = change.extension;
  if (Object.keys(directory).length > 0) events.push({ type: 'account.directory_updated', data: directory });
  return events;
}
