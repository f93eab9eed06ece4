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
] as const);
