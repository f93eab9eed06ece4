/** At most so many live subscriptions per session, counted where fox-wamp adds and removes them. */
import type { Logger } from '@veche/log';
import type { FoxContext, FoxSession } from './fox-wamp.ts';

export interface SubscriptionLimit {
  /** Starts counting the subscriptions of a new session. */
  count(session: FoxSession): void;
  /** Refuses a SUBSCRIBE past the limit (`veche.error.rate_limited`); whether it did. */
  refused(ctx: FoxContext, session: FoxSession, type: number, requestId: unknown): boolean;
}

export function createSubscriptionLimit(max: number, log: Logger): SubscriptionLimit {
  const counts = new WeakMap<FoxSession, number>();
  return {
    count(session) {
      const add = session.addTrace.bind(session);
      const remove = session.removeTrace.bind(session);
      session.addTrace = (id, subscription) => {
        if (session.getTrace(id) === undefined) counts.set(session, (counts.get(session) ?? 0) + 1);
        add(id, subscription);
      };
      session.removeTrace = (engine, id) => {
        if (session.getTrace(id) !== undefined) counts.set(session, (counts.get(session) ?? 1) - 1);
        return remove(engine, id);
      };
    },
    refused(ctx, session, type, requestId) {
      if ((counts.get(session) ?? 0) < max) return false;
      log.info({ sessionId: session.sessionId }, 'subscription limit reached');
      ctx.wampSendError(type, requestId, 'veche.error.rate_limited', [], {
        message: `at most ${max} subscriptions per session`,
      });
      return true;
    },
  };
}
