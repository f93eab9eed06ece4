/**
 * The session meta API, as Crossbar offers it to sessions allowed to use it (role `service` here):
 * the events `wamp.session.on_join` (args `[details]`) and `wamp.session.on_leave` (args `[sessionId,
 * authid, authrole]`), and the procedures `wamp.session.count`, `wamp.session.list` (optional
 * `filter_authroles`) and `wamp.session.get(session_id)`. The presence-router follows who holds a
 * `/ws` session through them.
 */
import type { Logger } from '@veche/log';
import type { WampPrincipal } from '@veche/wamp-policy';
import type { FoxRealm, FoxSession } from './fox-wamp.ts';

export const sessionMetaTopics = {
  onJoin: 'wamp.session.on_join',
  onLeave: 'wamp.session.on_leave',
} as const;

export const sessionMetaProcedures = ['wamp.session.count', 'wamp.session.list', 'wamp.session.get'] as const;
export type SessionMetaProcedure = (typeof sessionMetaProcedures)[number];

export const isSessionMetaProcedure = (uri: unknown): uri is SessionMetaProcedure =>
  (sessionMetaProcedures as readonly unknown[]).includes(uri);

/** What Crossbar reports about a session (the parts this router knows). */
export function sessionDetails(sessionId: number, principal: WampPrincipal): Record<string, unknown> {
  return {
    session: sessionId,
    authid: principal.authid,
    authrole: principal.authrole,
    authmethod: 'ticket',
    authprovider: 'veche',
    transport: { type: 'websocket' },
  };
}

export type MetaAnswer = { result: unknown } | { error: string; message: string };

/**
 * Answers a meta procedure from the joined sessions. Arguments come positionally or by name, as
 * Crossbar's Python procedures take them.
 */
export function answerSessionMeta(
  procedure: SessionMetaProcedure,
  args: readonly unknown[],
  kwargs: Readonly<Record<string, unknown>>,
  sessions: ReadonlyMap<number, WampPrincipal>,
): MetaAnswer {
  const roles = args[0] ?? kwargs['filter_authroles'];
  const filter = Array.isArray(roles)
    ? new Set(roles.filter((r): r is string => typeof r === 'string'))
    : undefined;
  const selected = [...sessions].filter(([, principal]) => !filter || filter.has(principal.authrole));
  switch (procedure) {
    case 'wamp.session.count':
      return { result: selected.length };
    case 'wamp.session.list':
      return { result: selected.map(([id]) => id) };
    case 'wamp.session.get': {
      const id = args[0] ?? kwargs['session_id'];
      const principal = typeof id === 'number' ? sessions.get(id) : undefined;
      if (typeof id !== 'number' || !principal)
        return { error: 'wamp.error.no_such_session', message: 'no such session' };
      return { result: sessionDetails(id, principal) };
    }
  }
}

export interface SessionAnnouncer {
  /** Sessions announced by `wamp.session.on_join`, until their `on_leave`. */
  readonly announced: ReadonlyMap<number, WampPrincipal>;
  join(session: FoxSession, principal: WampPrincipal): void;
  leave(session: FoxSession): void;
}

/** Publishes `on_join` and `on_leave` for joined sessions, the way Crossbar does. */
export function createSessionAnnouncer(realm: FoxRealm, log: Logger): SessionAnnouncer {
  const announced = new Map<number, WampPrincipal>();
  const publish = (topic: string, args: unknown[]) => {
    realm
      .wampApi()
      .publish(topic, args, {}, { exclude_me: false })
      .catch((error: unknown) => log.warn({ err: error, topic }, 'session meta event failed'));
  };
  return {
    announced,
    join(session, principal) {
      announced.set(session.sessionId, principal);
      publish(sessionMetaTopics.onJoin, [sessionDetails(session.sessionId, principal)]);
    },
    leave(session) {
      const principal = announced.get(session.sessionId);
      if (!principal) return;
      announced.delete(session.sessionId);
      publish(sessionMetaTopics.onLeave, [session.sessionId, principal.authid, principal.authrole]);
    },
  };
}
