/**
 * The mailer's WAMP procedures, declared as routes in @veche/contracts (mailerRoutes) and served by
 * the service kit: each takes `{actor, input}` as the gateway forwards it, validated against the
 * route's own schema, and admin routes refuse a caller who is not an administrator.
 */
import { Value } from '@sinclair/typebox/value';
import { mailerProcedures as P, mailerRoutes } from '@veche/contracts';
import type { Executor } from '@veche/db';
import { forbidden, validationError } from '@veche/errors';
import type { Logger } from '@veche/log';
import { procedureSchemaOf, serveRoutes, type RouteHandlers } from '@veche/service';
import type { WampService } from '@veche/wamp';
import * as admin from './admin.ts';
import * as preferences from './preferences.ts';

export function mailerHandlers(
  db: Executor<unknown>,
  unsubscribeSecret: string,
): RouteHandlers<typeof mailerRoutes> {
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
      return { ok: true };
    },
  };
}

export function registerProcedures(
  wamp: WampService,
  db: Executor<unknown>,
  unsubscribeSecret: string,
): Promise<void> {
  return serveRoutes(wamp, mailerRoutes, mailerHandlers(db, unsubscribeSecret));
}

/** A procedure called in-process: the same `{actor, input}` kwargs and checks as over WAMP. */
export type InProcessProcedure = (call: unknown) => Promise<unknown>;

/** The procedures by short name, for in-process callers (tests), validated as `serveRoutes` does. */
export function inProcessProcedures(
  db: Executor<unknown>,
  unsubscribeSecret: string,
  log: Logger,
): Record<keyof typeof P, InProcessProcedure> {
  const handlers = mailerHandlers(db, unsubscribeSecret) as Record<
    string,
    (call: never, context: { procedure: string; correlationId: string; log: Logger }) => unknown
  >;
  const entries = Object.entries(P).map(([name, procedure]) => {
    const route = mailerRoutes.find((r) => r.procedure === procedure)!;
    const schema = procedureSchemaOf(route);
    const call: InProcessProcedure = async (args) => {
      if (!Value.Check(schema, args)) {
        const problems = [...Value.Errors(schema, args)]
          .slice(0, 10)
          .map((e) => `${e.path || '/'}: ${e.message}`);
        throw validationError('The request does not match its schema', { details: { problems } });
      }
      if (route.auth === 'admin' && (args as { actor: { role: string } }).actor.role !== 'admin')
        throw forbidden('Administrators only');
      return handlers[procedure]!(args as never, { procedure, correlationId: 'in-process', log });
    };
    return [name, call] as const;
  });
  return Object.fromEntries(entries) as Record<keyof typeof P, InProcessProcedure>;
}
