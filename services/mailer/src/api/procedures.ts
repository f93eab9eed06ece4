/**
 * The mailer's WAMP procedures, declared as routes in @veche/contracts (mailerRoutes) and served by
 * the service kit: each takes `{actor, input}` as the gateway forwards it, validated against the
 * route's own schema, and admin routes refuse a caller who is not an administrator.
 */
import { mailerProcedures as P, mailerRoutes } from '@veche/contracts';
import type { Kysely } from '@veche/db';
import type { Logger } from '@veche/log';
import {
  inProcessProcedure,
  routeOfProcedure,
  serveRoutes,
  type ProcedureCall,
  type ProcedureNames,
  type RouteHandlers,
  type RouteOfProcedure,
} from '@veche/service';
import type { ProcedureContext, WampService } from '@veche/wamp';
import * as admin from './admin.ts';
import * as preferences from './preferences.ts';

/** Checked against the routes, each handler keeping its own result type (for in-process callers). */
export function mailerHandlers(db: Kysely<unknown>, unsubscribeSecret: string) {
  return {
    [P.listMails]: ({ input }) => admin.listMails(db, input),
    [P.getMail]: ({ input }) => admin.getMail(db, input.mailId),
    [P.listSuppressions]: () => admin.listSuppressions(db),
    [P.removeSuppression]: async ({ actor, input }, { log }) => {
      const result = await admin.removeSuppression(db, input.address);
      log.info(
        { actingUser: actor.userId, removed: result.removed },
        'suppression lifted by an administrator',
      );
      return result;
    },
    [P.setNotificationPreference]: ({ actor, input }) =>
      preferences.setNotificationPreference(db, actor.userId, input.emailNotifications),
    [P.unsubscribe]: async ({ input }, { log }) => {
      const { userId } = await preferences.unsubscribe(db, unsubscribeSecret, input.token);
      log.info({ userId }, 'unsubscribed from notification mail');
      return { ok: true as const };
    },
  } satisfies RouteHandlers<typeof mailerRoutes>;
}

export function registerProcedures(
  wamp: WampService,
  db: Kysely<unknown>,
  unsubscribeSecret: string,
): Promise<void> {
  return serveRoutes(wamp, mailerRoutes, mailerHandlers(db, unsubscribeSecret));
}

/** The procedures by short name, for in-process callers (tests), checked as `serveRoutes` checks them. */
export function inProcessProcedures(db: Kysely<unknown>, unsubscribeSecret: string, log: Logger) {
  const handlers = mailerHandlers(db, unsubscribeSecret);
  const procedure = <Name extends ProcedureNames<typeof mailerRoutes>, Out>(
    name: Name,
    handler: (
      call: ProcedureCall<RouteOfProcedure<typeof mailerRoutes, Name>>,
      context: ProcedureContext,
    ) => Out | Promise<Out>,
  ) =>
    inProcessProcedure(routeOfProcedure(mailerRoutes, name), handler, {
      procedure: name,
      correlationId: 'in-process',
      log,
    });
  return {
    listMails: procedure(P.listMails, handlers[P.listMails]),
    getMail: procedure(P.getMail, handlers[P.getMail]),
    listSuppressions: procedure(P.listSuppressions, handlers[P.listSuppressions]),
    removeSuppression: procedure(P.removeSuppression, handlers[P.removeSuppression]),
    setNotificationPreference: procedure(P.setNotificationPreference, handlers[P.setNotificationPreference]),
    unsubscribe: procedure(P.unsubscribe, handlers[P.unsubscribe]),
  };
}

export type InProcessProcedures = ReturnType<typeof inProcessProcedures>;
