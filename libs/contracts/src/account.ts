/**
 * The signed-in user's own account (profile, password, e-mail, sessions) and the user directory, served
 * by the gateway itself.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DisplayName, Email, Locale, Ok, Password, UserId } from './auth.ts';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

/** Digits only, 2 to 8 of them: the presence seed addresses users by number. */
export const Extension = Type.String({ pattern: '^[0-9]{2,8}$' });
export const TimeZone = Text({ minLength: 1, maxLength: 64, description: 'An IANA time zone' });

export const Me = Type.Object(
  {
    userId: UserId,
    email: Type.String(),
    emailVerified: Type.Boolean(),
    displayName: Type.String(),
    locale: Locale,
    timeZone: Type.String(),
    extension: Type.Union([Type.String(), Type.Null()]),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type Me = Static<typeof Me>;

export const UpdateProfileRequest = Type.Object(
  {
    displayName: Type.Optional(DisplayName),
    locale: Type.Optional(Locale),
    timeZone: Type.Optional(TimeZone),
    /** `null` removes the number. */
    extension: Type.Optional(Type.Union([Extension, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ChangePasswordRequest = Type.Object(
  { currentPassword: Text({ minLength: 1, maxLength: 256 }), newPassword: Password },
  { additionalProperties: false },
);
export const ChangeEmailRequest = Type.Object(
  { newEmail: Email, password: Text({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);

export const SessionInfo = Type.Object(
  {
    sessionId: Type.String(),
    device: Type.String(),
    ip: Type.String(),
    createdAt: Type.String(),
    lastSeenAt: Type.String(),
    current: Type.Boolean(),
  },
  { additionalProperties: false },
);
export const SessionList = Type.Object(
  { sessions: Type.Array(SessionInfo) },
  { additionalProperties: false },
);
export const SessionParams = Type.Object(
  { sessionId: Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' }) },
  { additionalProperties: false },
);

export const UserSummary = Type.Object(
  { userId: UserId, displayName: Type.String(), extension: Type.Union([Type.String(), Type.Null()]) },
  { additionalProperties: false },
);
export const UserSearchQuery = Type.Object(
  {
    /** A display-name prefix (case-insensitive) or an exact extension number. */
    q: Text({ minLength: 1, maxLength: 64 }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
  },
  { additionalProperties: false },
);
export const UserList = Type.Object({ users: Type.Array(UserSummary) }, { additionalProperties: false });

const tags = ['account'];

export const accountRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'GET',
    url: '/me',
    auth: 'user',
    procedure: 'veche.gateway.account.me',
    summary: 'The signed-in user',
    tags,
    response: Me,
  },
  {
    kind: 'rpc',
    method: 'PATCH',
    url: '/me',
    auth: 'user',
    procedure: 'veche.gateway.account.update_profile',
    summary: 'Change display name, locale, time zone or extension number',
    tags,
    body: UpdateProfileRequest,
    response: Me,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/me/password',
    auth: 'user',
    procedure: 'veche.gateway.account.change_password',
    summary: 'Change the password (the current one is required); other sessions end',
    tags,
    body: ChangePasswordRequest,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/me/email',
    auth: 'user',
    procedure: 'veche.gateway.account.request_email_change',
    summary: 'Ask to change the e-mail address; a confirmation mail goes to the new one',
    tags,
    body: ChangeEmailRequest,
    response: Ok,
    status: 202,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/me/email/confirm',
    auth: 'public',
    procedure: 'veche.gateway.account.confirm_email_change',
    summary: 'Confirm the new e-mail address with the token from the mail',
    tags,
    body: Type.Object(
      { token: Type.String({ minLength: 16, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }) },
      {
        additionalProperties: false,
      },
    ),
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/me/sessions',
    auth: 'user',
    procedure: 'veche.gateway.account.list_sessions',
    summary: 'The account’s live sessions (device, IP, last seen)',
    tags,
    response: SessionList,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/me/sessions/:sessionId',
    auth: 'user',
    procedure: 'veche.gateway.account.revoke_session',
    summary: 'End one of the account’s sessions',
    tags,
    params: SessionParams,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/users',
    auth: 'user',
    procedure: 'veche.gateway.account.search_users',
    summary: 'Find users by display-name prefix or extension number, to start a conversation',
    tags,
    querystring: UserSearchQuery,
    response: UserList,
  },
] as const);
