/**
 * The mailer's contract as a consumer: the payloads it expects from the integration events it reads.
 * No service publishes most of these yet (the gateway and chat come later); these schemas are what
 * they must publish, and each is the validator and the TypeScript type at once.
 */
import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set(
    'date-time',
    (value) => /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value)),
  );
}

const Id = Type.String({ minLength: 1, maxLength: 200 });
const Email = Type.String({ minLength: 3, maxLength: 320, pattern: '^[^\\s@]+@[^\\s@]+$' });
const Token = Type.String({ minLength: 1, maxLength: 1000 });
/** BCP 47 tag as the user chose it; the mailer renders `ru*` in Russian and everything else in English. */
const Locale = Type.String({ minLength: 2, maxLength: 35 });
const DisplayName = Type.String({ minLength: 1, maxLength: 200 });
export const NotifyPreference = Type.Union([
  Type.Literal('immediately'),
  Type.Literal('digest'),
  Type.Literal('never'),
]);
export type NotifyPreference = Static<typeof NotifyPreference>;

export const AccountRegistered = Type.Object({
  userId: Id,
  email: Email,
  displayName: DisplayName,
  locale: Locale,
  /** Proves ownership of `email`: the link in the verification mail carries it. */
  verificationToken: Token,
  /** The user's choice for chat notifications by e-mail, when the sign-up form asked. */
  emailNotifications: Type.Optional(NotifyPreference),
});

export const AccountPasswordResetRequested = Type.Object({
  userId: Id,
  email: Email,
  displayName: DisplayName,
  locale: Locale,
  resetToken: Token,
  /** ISO 8601; shown in the mail so the user knows how long the link works. */
  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});

export const AccountEmailChangeRequested = Type.Object({
  userId: Id,
  /** The address now on the account: told about the change, so a hijack does not go unnoticed. */
  currentEmail: Email,
  newEmail: Email,
  displayName: DisplayName,
  locale: Locale,
  verificationToken: Token,
});

export const AccountEmailChanged = Type.Object({ userId: Id, email: Email });

export const AccountProfileUpdated = Type.Object({
  userId: Id,
  displayName: Type.Optional(DisplayName),
  locale: Type.Optional(Locale),
  emailNotifications: Type.Optional(NotifyPreference),
});

export const ChatMessagePosted = Type.Object({
  roomId: Id,
  /** Shown in the mail; a direct message has none. */
  roomName: Type.Optional(Type.String({ maxLength: 200 })),
  roomKind: Type.Union([Type.Literal('room'), Type.Literal('dm')]),
  messageId: Id,
  /** The message's per-room sequence: a read receipt `readUpTo >= seq` means it was read. */
  seq: Type.Integer({ minimum: 1 }),
  senderId: Id,
  senderDisplayName: DisplayName,
  text: Type.String({ maxLength: 20_000 }),
  sentAt: Type.String({ format: 'date-time' }),
  /**
   * The members chat decided should hear of this message: mentioned, or the other side of a direct
   * message. The sender is never among them. Everyone else in the room gets no mail.
   */
  notify: Type.Array(
    Type.Object({
      userId: Id,
      reason: Type.Union([Type.Literal('mention'), Type.Literal('direct')]),
    }),
    { maxItems: 10_000 },
  ),
});

export const ChatReceiptsUpdated = Type.Object({
  roomId: Id,
  userId: Id,
  deliveredUpTo: Type.Optional(Type.Integer({ minimum: 0 })),
  readUpTo: Type.Optional(Type.Integer({ minimum: 0 })),
});

export type AccountRegistered = Static<typeof AccountRegistered>;
export type AccountPasswordResetRequested = Static<typeof AccountPasswordResetRequested>;
export type AccountEmailChangeRequested = Static<typeof AccountEmailChangeRequested>;
export type AccountEmailChanged = Static<typeof AccountEmailChanged>;
export type AccountProfileUpdated = Static<typeof AccountProfileUpdated>;
export type ChatMessagePosted = Static<typeof ChatMessagePosted>;
export type ChatReceiptsUpdated = Static<typeof ChatReceiptsUpdated>;

/** Every event type the mailer binds its queue to, with the schema of its `data`. */
export const consumedEvents = {
  'account.registered': AccountRegistered,
  'account.password_reset_requested': AccountPasswordResetRequested,
  'account.email_change_requested': AccountEmailChangeRequested,
  'account.email_changed': AccountEmailChanged,
  'account.profile_updated': AccountProfileUpdated,
  'chat.message_posted': ChatMessagePosted,
  'chat.receipts_updated': ChatReceiptsUpdated,
} as const satisfies Record<string, TSchema>;

export type ConsumedEventType = keyof typeof consumedEvents;

export type ConsumedEvent = {
  [K in ConsumedEventType]: { type: K; data: Static<(typeof consumedEvents)[K]> };
}[ConsumedEventType];

export const isConsumedEventType = (type: string): type is ConsumedEventType => type in consumedEvents;

export type ParseResult = { ok: true; event: ConsumedEvent } | { ok: false; problems: string[] };

/** Checks `data` against the schema of `type`; the problems name the offending fields. */
export function parseEvent(type: string, data: unknown): ParseResult {
  if (!isConsumedEventType(type))
    return { ok: false, problems: [`not an event the mailer consumes: ${type}`] };
  const schema = consumedEvents[type];
  if (Value.Check(schema, data)) return { ok: true, event: { type, data } as ConsumedEvent };
  const problems = [...Value.Errors(schema, data)].slice(0, 10).map((e) => `${e.path || '/'}: ${e.message}`);
  return { ok: false, problems };
}
