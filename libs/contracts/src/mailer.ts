/**
 * The mailer's procedures under /api: administrators inspect mails and suppressions, users choose how
 * chat notifications reach them by mail, and the unsubscribe link works without logging in. Like every
 * service's, the mailer's procedures take `{actor, input}` (RpcInput) as the gateway forwards them.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Ok } from './auth.ts';
import { defineRoutes } from './routes.ts';
import { Text } from './text.ts';

const MailState = Type.Union([
  Type.Literal('queued'),
  Type.Literal('sending'),
  Type.Literal('sent'),
  Type.Literal('deferred'),
  Type.Literal('failed'),
  Type.Literal('suppressed'),
]);
const Anything = Type.Unknown({ description: 'As the mailer returns it' });
export const NotifyPreference = Type.Union([
  Type.Literal('immediately'),
  Type.Literal('digest'),
  Type.Literal('never'),
]);
export type NotifyPreference = Static<typeof NotifyPreference>;

/** The procedures these routes call. */
export const mailerProcedures = {
  listMails: 'veche.mailer.admin.list_mails',
  getMail: 'veche.mailer.admin.get_mail',
  listSuppressions: 'veche.mailer.admin.list_suppressions',
  removeSuppression: 'veche.mailer.admin.remove_suppression',
  setNotificationPreference: 'veche.mailer.set_notification_preference',
  unsubscribe: 'veche.mailer.unsubscribe',
} as const;

export const mailerRoutes = defineRoutes([
  {
    kind: 'rpc',
    method: 'GET',
    url: '/admin/mails',
    auth: 'admin',
    procedure: mailerProcedures.listMails,
    summary: 'Mails, newest first, filtered by state, address, user or event',
    tags: ['admin'],
    querystring: Type.Object(
      {
        state: Type.Optional(MailState),
        address: Type.Optional(Text({ minLength: 1, maxLength: 320 })),
        recipientUserId: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
        eventId: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
        before: Type.Optional(Text({ minLength: 1, maxLength: 100 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
      },
      { additionalProperties: false },
    ),
    response: Anything,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/admin/mails/:mailId',
    auth: 'admin',
    procedure: mailerProcedures.getMail,
    summary: 'One mail with its delivery history',
    tags: ['admin'],
    params: Type.Object({ mailId: Text({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
    response: Anything,
  },
  {
    kind: 'rpc',
    method: 'GET',
    url: '/admin/suppressions',
    auth: 'admin',
    procedure: mailerProcedures.listSuppressions,
    summary: 'Addresses the mailer no longer sends to',
    tags: ['admin'],
    response: Anything,
  },
  {
    kind: 'rpc',
    method: 'DELETE',
    url: '/admin/suppressions/:address',
    auth: 'admin',
    procedure: mailerProcedures.removeSuppression,
    summary: 'Lift a suppression',
    tags: ['admin'],
    params: Type.Object({ address: Text({ minLength: 1, maxLength: 320 }) }, { additionalProperties: false }),
    response: Anything,
  },
  {
    kind: 'rpc',
    method: 'PUT',
    url: '/me/notifications',
    auth: 'user',
    procedure: mailerProcedures.setNotificationPreference,
    summary: 'How chat notifications reach me by mail',
    tags: ['account'],
    body: Type.Object({ emailNotifications: NotifyPreference }, { additionalProperties: false }),
    response: Type.Object({ emailNotifications: NotifyPreference }),
  },
  {
    kind: 'rpc',
    method: 'POST',
    url: '/mail/unsubscribe',
    auth: 'public',
    procedure: mailerProcedures.unsubscribe,
    summary: 'Follow an unsubscribe link: no more notification mail',
    tags: ['account'],
    body: Type.Object({ token: Text({ minLength: 1, maxLength: 1000 }) }, { additionalProperties: false }),
    response: Ok,
  },
] as const);
