/**
 * The gateway's own authentication routes: registration, e-mail verification, log-in, token refresh,
 * log-out, password reset. The gateway implements them itself (their `procedure` names its local
 * handler); the web client takes its request and response types from here.
 */
import { Type, type Static } from '@sinclair/typebox';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

/** ASCII addresses only (no quoted local parts, no IDN): what every relay on the way accepts. */
export const Email = Type.String({
  minLength: 3,
  maxLength: 254,
  pattern:
    "^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
  description: 'An e-mail address (ASCII)',
});
/** At most 256 characters: argon2 hashes any length, and a megabyte password is a denial of service. */
export const Password = Text({ minLength: 10, maxLength: 256, description: '10 to 256 characters' });
export const DisplayName = Text({
  minLength: 1,
  maxLength: 64,
  description: 'Shown to others; no control or bidirectional-override characters',
});
export const Locale = Type.Union([Type.Literal('en'), Type.Literal('ru')]);
/** Opaque single-use tokens from mails and refresh tokens: base64url text. */
export const OpaqueToken = Type.String({ minLength: 16, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' });
export const UserId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

export const Ok = Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false });

export const RegisterRequest = Type.Object(
  {
    email: Email,
    password: Password,
    displayName: DisplayName,
    locale: Type.Optional(Locale),
    timeZone: Type.Optional(Text({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);
export const RegisterResponse = Type.Object({ userId: UserId }, { additionalProperties: false });

export const TokenRequest = Type.Object({ token: OpaqueToken }, { additionalProperties: false });
export const EmailRequest = Type.Object({ email: Email }, { additionalProperties: false });

export const LoginRequest = Type.Object(
  {
    email: Email,
    password: Text({ minLength: 1, maxLength: 256 }),
    /** A name for the session in the session list ("Firefox on the laptop"); the User-Agent otherwise. */
    device: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export const TokenPair = Type.Object(
  {
    accessToken: Type.String(),
    refreshToken: Type.String(),
    /** Seconds until the access token expires. */
    expiresIn: Type.Integer(),
    userId: UserId,
    sessionId: Type.String(),
  },
  { additionalProperties: false },
);
export const RefreshRequest = Type.Object({ refreshToken: OpaqueToken }, { additionalProperties: false });
export const PasswordResetConfirmRequest = Type.Object(
  { token: OpaqueToken, password: Password },
  { additionalProperties: false },
);

export type RegisterRequest = Static<typeof RegisterRequest>;
export type LoginRequest = Static<typeof LoginRequest>;
export type TokenPair = Static<typeof TokenPair>;

const tags = ['auth'];

export const authRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/register',
    auth: 'public',
    procedure: 'veche.gateway.auth.register',
    summary: 'Create an account; a verification mail goes to the address',
    tags,
    body: RegisterRequest,
    response: RegisterResponse,
    status: 201,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/verify',
    auth: 'public',
    procedure: 'veche.gateway.auth.verify',
    summary: 'Confirm an e-mail address with the token from the verification mail',
    tags,
    body: TokenRequest,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/verify/resend',
    auth: 'public',
    procedure: 'veche.gateway.auth.resend_verification',
    summary: 'Send the verification mail again (answers the same whether or not the address exists)',
    tags,
    body: EmailRequest,
    response: Ok,
    status: 202,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/login',
    auth: 'public',
    procedure: 'veche.gateway.auth.login',
    summary: 'Log in: a short-lived access token and a rotating refresh token',
    tags,
    body: LoginRequest,
    response: TokenPair,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/refresh',
    auth: 'public',
    procedure: 'veche.gateway.auth.refresh',
    summary: 'Exchange a refresh token for a new pair; reusing an old one ends the session',
    tags,
    body: RefreshRequest,
    response: TokenPair,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/logout',
    auth: 'user',
    procedure: 'veche.gateway.auth.logout',
    summary: 'End the current session',
    tags,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/logout-all',
    auth: 'user',
    procedure: 'veche.gateway.auth.logout_all',
    summary: 'End every session of the account, this one included',
    tags,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/password-reset',
    auth: 'public',
    procedure: 'veche.gateway.auth.request_password_reset',
    summary: 'Mail a password-reset link (answers the same whether or not the address exists)',
    tags,
    body: EmailRequest,
    response: Ok,
    status: 202,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/auth/password-reset/confirm',
    auth: 'public',
    procedure: 'veche.gateway.auth.confirm_password_reset',
    summary: 'Set a new password with the token from the reset mail; ends every session',
    tags,
    body: PasswordResetConfirmRequest,
    response: Ok,
  },
] as const);

/**
 * Gateway procedures only services call. `authenticateToken`: an access token checked against its live
 * session (revoked, expired or disabled: `unauthorized`), for doors other than `/api` that take the
 * same tokens (the presence-router's `/pubsub` upgrade).
 */
export const gatewayServiceProcedures = {
  authenticateToken: 'veche.gateway.sessions.authenticate',
  /** A Kerberos (SPNEGO) token from `Authorization: Negotiate …` → the mapped account (issue 20). */
  authenticateNegotiate: 'veche.gateway.sessions.authenticate_negotiate',
  /**
   * Which of these user ids have an account, with their display names: chat asks for a user it has
   * not heard of yet (the `account.registered` event still on its way), so a user who registered a
   * moment ago can be invited or sent a direct message at once.
   */
  knownAccounts: 'veche.gateway.accounts.known',
} as const;
export const KnownAccountsRequest = Type.Object(
  { userIds: Type.Array(UserId, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
/** The accounts among those asked for (an unknown id is left out), disabled ones included. */
export const KnownAccounts = Type.Object(
  {
    accounts: Type.Array(
      Type.Object({ userId: UserId, displayName: DisplayName }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
export type KnownAccounts = Static<typeof KnownAccounts>;
/** The base64 of a GSS token, as it follows `Negotiate ` in a header. */
export const NegotiateToken = Type.String({
  minLength: 4,
  maxLength: 65_536,
  pattern: '^[A-Za-z0-9+/]+={0,2}$',
});
export const NegotiateRequest = Type.Object({ token: NegotiateToken }, { additionalProperties: false });
export const NegotiatedPrincipal = Type.Object(
  {
    userId: UserId,
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    /** The Kerberos client principal, e.g. alice@EXAMPLE.ORG. */
    principal: Type.String(),
    /** The mutual-authentication token for `WWW-Authenticate: Negotiate <token>`, if the client asked. */
    responseToken: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type NegotiatedPrincipal = Static<typeof NegotiatedPrincipal>;
export const AuthenticateTokenRequest = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 4096 }) },
  { additionalProperties: false },
);
export const AuthenticatedPrincipal = Type.Object(
  {
    userId: UserId,
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    sessionId: Type.String(),
  },
  { additionalProperties: false },
);
export type AuthenticatedPrincipal = Static<typeof AuthenticatedPrincipal>;
