/**
 * Where each session stands (new, challenged, authenticating, joined, closed) and with which
 * principal, and the two ways the router ends a session that has not joined or broke the protocol.
 */
import type { Logger } from '@veche/log';
import type { WampPrincipal } from '@veche/wamp-policy';
import type { FoxContext, FoxSession } from './fox-wamp.ts';
import { closeCodes, wampMessage } from './wamp-messages.ts';

export type SessionStage = 'new' | 'challenged' | 'authenticating' | 'joined' | 'closed';

export interface SessionState {
  stage: SessionStage;
  principal?: WampPrincipal;
  authTimer?: NodeJS.Timeout;
}

export interface SessionStates {
  stateOf: (session: FoxSession) => SessionState;
  /** ABORT with `reason` (and `message`), then close the connection normally. */
  abort: (ctx: FoxContext, session: FoxSession, reason: string, message?: string) => void;
  /** ABORT with `wamp.error.protocol_violation`, then close the connection with 1002. */
  protocolViolation: (ctx: FoxContext, session: FoxSession, problem: string) => void;
}

export function createSessionStates(log: Logger): SessionStates {
  const states = new WeakMap<FoxSession, SessionState>();
  const stateOf = (session: FoxSession): SessionState => {
    let state = states.get(session);
    if (!state) {
      state = { stage: 'new' };
      states.set(session, state);
    }
    return state;
  };
  return {
    stateOf,
    abort(ctx, session, reason, message) {
      const state = stateOf(session);
      state.stage = 'closed';
      clearTimeout(state.authTimer);
      ctx.wampSend([wampMessage.ABORT, message ? { message } : {}, reason], () =>
        ctx.wampClose(closeCodes.normal, 'session aborted'),
      );
    },
    protocolViolation(ctx, session, problem) {
      log.info({ sessionId: session.sessionId, problem }, 'protocol violation, closing session');
      const state = stateOf(session);
      state.stage = 'closed';
      clearTimeout(state.authTimer);
      ctx.wampSend([wampMessage.ABORT, { message: problem }, 'wamp.error.protocol_violation'], () =>
        ctx.wampClose(closeCodes.protocolError, 'protocol violation'),
      );
    },
  };
}
