/**
 * Joining the realm: HELLO (the Veche realm, ticket authentication, an authid) → CHALLENGE →
 * AUTHENTICATE, checked by the authenticator → WELCOME, or ABORT; a client that idles between the
 * steps past the timeout is aborted.
 */
import type { Logger } from '@veche/log';
import { vecheRealm } from '@veche/wamp-policy';
import type { Authenticator, RouterCalls, TicketIdentity } from './authenticators.ts';
import type { FoxContext, FoxRealm, FoxSession } from './fox-wamp.ts';
import type { SessionAnnouncer } from './session-meta.ts';
import type { SessionKills } from './session-kill.ts';
import type { SessionStates } from './session-states.ts';
import { wampMessage } from './wamp-messages.ts';

export interface HandshakeDependencies {
  log: Logger;
  authenticate: Authenticator;
  authTimeoutMs: number;
  realm: FoxRealm;
  routerCalls: RouterCalls;
  states: SessionStates;
  kills: SessionKills;
  announcer: SessionAnnouncer;
  /** The realm's details for WELCOME (fox-wamp's roles and features). */
  realmDetails: () => Record<string, unknown>;
}

export interface Handshake {
  hello(ctx: FoxContext, session: FoxSession, realmName: string, details: Record<string, unknown>): void;
  authenticate(ctx: FoxContext, session: FoxSession, ticket: string): void;
}

export function createHandshake(deps: HandshakeDependencies): Handshake {
  const { log } = deps;
  const { stateOf, abort, protocolViolation } = deps.states;
  return {
    hello(ctx, session, realmName, details) {
      const state = stateOf(session);
      if (state.stage !== 'new') {
        protocolViolation(ctx, session, 'HELLO after HELLO');
        return;
      }
      if (realmName !== vecheRealm) {
        log.info({ sessionId: session.sessionId, realm: realmName.slice(0, 100) }, 'unknown realm');
        abort(ctx, session, 'wamp.error.no_such_realm');
        return;
      }
      const methods = details['authmethods'];
      const authid = details['authid'];
      if (!Array.isArray(methods) || !methods.includes('ticket')) {
        abort(ctx, session, 'wamp.error.no_auth_method', 'only ticket authentication is offered');
        return;
      }
      if (typeof authid !== 'string' || authid.length === 0 || authid.length > 255) {
        abort(ctx, session, 'wamp.error.authentication_failed', 'authid is required');
        return;
      }
      session.realmName = realmName;
      session.secureDetails = { authid };
      session.setAuthMethod('ticket');
      state.stage = 'challenged';
      state.authTimer = setTimeout(() => {
        if (state.stage === 'challenged' || state.stage === 'authenticating') {
          abort(ctx, session, 'wamp.error.authentication_failed', 'authentication timed out');
        }
      }, deps.authTimeoutMs);
      state.authTimer.unref();
      ctx.wampSend([wampMessage.CHALLENGE, 'ticket', {}]);
    },

    authenticate(ctx, session, ticket) {
      const state = stateOf(session);
      if (state.stage !== 'challenged') {
        protocolViolation(ctx, session, 'AUTHENTICATE without a pending CHALLENGE');
        return;
      }
      state.stage = 'authenticating';
      const authid = (session.secureDetails as { authid: string }).authid;
      const succeed = (identity: TicketIdentity | null) => {
        if (state.stage !== 'authenticating' || !session.isActive()) return;
        clearTimeout(state.authTimer);
        if (!identity || typeof identity.authrole !== 'string') {
          abort(ctx, session, 'wamp.error.authentication_failed');
          return;
        }
        const principal = { authid: identity.authid ?? authid, authrole: identity.authrole };
        state.principal = principal;
        state.stage = 'joined';
        session.setUserDetails({ ...principal, authextra: identity.authextra });
        deps.realm.joinSession(session);
        const welcome: Record<string, unknown> = {
          ...deps.realmDetails(),
          authid: principal.authid,
          authrole: principal.authrole,
          authmethod: 'ticket',
          authprovider: 'veche',
        };
        if (identity.authextra) welcome['authextra'] = identity.authextra;
        log.debug({ sessionId: session.sessionId, ...principal }, 'session joined');
        ctx.wampSend([wampMessage.WELCOME, session.sessionId, welcome]);
        deps.kills.joined(session, ctx);
        deps.announcer.join(session, principal);
      };
      const fail = (error: unknown) => {
        if (state.stage !== 'authenticating') return;
        log.info({ sessionId: session.sessionId, authid, err: error }, 'authentication failed');
        abort(ctx, session, 'wamp.error.authentication_failed');
      };
      deps
        .authenticate({ realm: vecheRealm, authid, ticket, session: session.sessionId }, deps.routerCalls)
        .then(succeed, fail)
        .catch((error: unknown) => {
          log.error({ err: error, sessionId: session.sessionId }, 'joining the realm failed');
          ctx.wampClose(1011, 'internal error');
        });
    },
  };
}
