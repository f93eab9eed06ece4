/** Administration of accounts, served by the gateway itself; only the role `admin` may call these. */
import { Type } from '@sinclair/typebox';
import { Ok, UserId } from './auth.ts';
import { defineRoutes } from './routes.ts';

export const AdminUser = Type.Object(
  {
    userId: UserId,
    email: Type.String(),
    emailVerified: Type.Boolean(),
    displayName: Type.String(),
    role: Type.Union([Type.Literal('user'), Type.Literal('admin')]),
    status: Type.Union([Type.Literal('active'), Type.Literal('disabled')]),
    extension: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export const AdminUserQuery = Type.Object(
  {
    /** Users created before this one (the previous page's `nextAfter`). */
    after: Type.Optional(UserId),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  },
  { additionalProperties: false },
);
export const AdminUserList = Type.Object(
  { users: Type.Array(AdminUser), nextAfter: Type.Union([UserId, Type.Null()]) },
  { additionalProperties: false },
);
export const UserParams = Type.Object({ userId: UserId }, { additionalProperties: false });

/** A Kerberos client principal: name[/instance]@REALM. */
export const KerberosPrincipal = Type.String({
  minLength: 3,
  maxLength: 255,
  pattern: '^[^\\s@]+@[^\\s@]+$',
});
export const KerberosPrincipalsInput = Type.Object(
  { principals: Type.Array(KerberosPrincipal, { maxItems: 20 }) },
  { additionalProperties: false },
);
export const KerberosPrincipalList = Type.Object(
  {
    principals: Type.Array(
      Type.Object({ principal: Type.String(), userId: UserId, linkedAt: Type.String() }),
    ),
  },
  { additionalProperties: false },
);

const tags = ['admin'];

export const adminRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'GET',
    url: '/admin/users',
    auth: 'admin',
    procedure: 'veche.gateway.admin.list_users',
    summary: 'Every account, oldest first',
    tags,
    querystring: AdminUserQuery,
    response: AdminUserList,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/admin/users/:userId/disable',
    auth: 'admin',
    procedure: 'veche.gateway.admin.disable_user',
    summary: 'Disable an account: its sessions end at once, live WAMP sessions included',
    tags,
    params: UserParams,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/admin/users/:userId/enable',
    auth: 'admin',
    procedure: 'veche.gateway.admin.enable_user',
    summary: 'Enable a disabled account again',
    tags,
    params: UserParams,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/admin/users/:userId/kerberos',
    auth: 'admin',
    procedure: 'veche.gateway.admin.set_kerberos_principals',
    summary: 'The Kerberos principals that log in as this account (the whole list; [] unlinks them all)',
    tags,
    params: UserParams,
    body: KerberosPrincipalsInput,
    response: Ok,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/admin/kerberos',
    auth: 'admin',
    procedure: 'veche.gateway.admin.list_kerberos_principals',
    summary: 'Every Kerberos principal and the account it logs in as',
    tags,
    response: KerberosPrincipalList,
  },
] as const);
