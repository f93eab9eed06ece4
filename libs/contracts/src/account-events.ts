/**
 * The gateway's integration events (`account.*` on `veche.events`), declared once: the gateway appends
 * values of these types, and the mailer, chat and the presence-router check what they receive against
 * the same schemas.
 */
import { Type, type Static } from '@sinclair/typebox';
import { NotifyPreference } from './mailer.ts';

const Id = Type.String({ minLength: 1, maxLength: 200 });
const Email = Type.String({ minLength: 3, maxLength: 320, pattern: '^[^\\s@]+@[^\\s@]+$' });
/** A mail-link token sealed by the gateway (mail-token.ts): opened only to send the mail. */
const SealedToken = Type.String({ minLength: 1, maxLength: 1000 });
/** BCP 47 tag as the user chose it; the mailer renders `ru*` in Russian and everything else in English. */
const Locale = Type.String({ minLength: 2, maxLength: 35 });
const DisplayName = Type.String({ minLength: 1, maxLength: 200 });
const Extension = Type.String({ pattern: '^[0-9]{2,8}$' });

export const accountEventTypes = {
  registered: 'account.registered',
  passwordResetRequested: 'account.password_reset_requested',
  emailChangeRequested: 'account.email_change_requested',
  emailChanged: 'account.email_changed',
  profileUpdated: 'account.profile_updated',
  registrationAttempted: 'account.registration_attempted',
  directoryUpdated: 'account.directory_updated',
  disabled: 'account.disabled',
  enabled: 'account.enabled',
} as const;

export const accountIntegrationEvents = {
  /** A new account, or a verification mail asked for again (with a fresh token). */
  [accountEventTypes.registered]: Type.Object({
    userId: Id,
    email: Email,
    displayName: DisplayName,
    locale: Locale,
    /** Proves ownership of `email`: the link in the verification mail carries it. */
    sealedToken: SealedToken,
    /** The user's choice for chat notifications by e-mail, when the sign-up form asked. */
    emailNotifications: Type.Optional(NotifyPreference),
  }),
  [accountEventTypes.passwordResetRequested]: Type.Object({
    userId: Id,
    email: Email,
    displayName: DisplayName,
    locale: Locale,
    sealedToken: SealedToken,
    /** ISO 8601; shown in the mail so the user knows how long the link works. */
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  }),
  [accountEventTypes.emailChangeRequested]: Type.Object({
    userId: Id,
    /** The address now on the account: told about the change, so a hijack does not go unnoticed. */
    currentEmail: Email,
    newEmail: Email,
    displayName: DisplayName,
    locale: Locale,
    sealedToken: SealedToken,
  }),
  [accountEventTypes.emailChanged]: Type.Object({ userId: Id, email: Email }),
  [accountEventTypes.profileUpdated]: Type.Object({
    userId: Id,
    displayName: Type.Optional(DisplayName),
    locale: Type.Optional(Locale),
    emailNotifications: Type.Optional(NotifyPreference),
  }),
  /** Someone registered with an address that already has an account: its owner is told. */
  [accountEventTypes.registrationAttempted]: Type.Object({
    userId: Id,
    email: Email,
    displayName: DisplayName,
    locale: Locale,
  }),
  /** The presence directory's facts changed: a time zone, an extension number (null: none). */
  [accountEventTypes.directoryUpdated]: Type.Object({
    userId: Id,
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    extension: Type.Optional(Type.Union([Extension, Type.Null()])),
  }),
  [accountEventTypes.disabled]: Type.Object({ userId: Id, by: Id }),
  [accountEventTypes.enabled]: Type.Object({ userId: Id, by: Id }),
} as const;

export type AccountEventType = (typeof accountEventTypes)[keyof typeof accountEventTypes];
export type AccountEventData = { [K in AccountEventType]: Static<(typeof accountIntegrationEvents)[K]> };
export type AccountRegistered = AccountEventData['account.registered'];
export type AccountPasswordResetRequested = AccountEventData['account.password_reset_requested'];
export type AccountEmailChangeRequested = AccountEventData['account.email_change_requested'];
export type AccountEmailChanged = AccountEventData['account.email_changed'];
export type AccountProfileUpdated = AccountEventData['account.profile_updated'];
export type AccountRegistrationAttempted = AccountEventData['account.registration_attempted'];
export type AccountDirectoryUpdated = AccountEventData['account.directory_updated'];
