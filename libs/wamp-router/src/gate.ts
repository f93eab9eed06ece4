/**
 * fox-wamp's gate, subclassed: every message's shape is checked, joining goes through our handshake,
 * register and call are authorized too (fox-wamp's hook covers only subscribe and publish), the
 * subscription limit and the registration rules hold, the kill and session meta procedures are
 * answered here, and callee error URIs and kwargs pass through to the caller (fox-wamp replaces them
 * with `wamp.error.callee_failure`).
 */
import type { Logger } from '@veche/log';
import type { WampAction } from '@veche/wamp-policy';
import type { Authenticator, RouterCalls } from './authenticators.ts';
import { createAuthorizationCheck, type Authorizer } from './authorization.ts';
import { forwardYield, passCalleeError, refusedRestrictedRegistration, register } from './dealer.ts';
import {
  WampGate,
  type FoxCommand,
  type FoxContext,
  type FoxRealm,
  type FoxRouter,
  type FoxSession,
  type FoxSocketWriter,
} from './fox-wamp.ts';
import { createHandshake } from './handshake.ts';
import type { RegistrationRules } from './registrations.ts';
import { createSessionKills, isKillProcedure } from './session-kill.ts';
import { answerSessionMeta, createSessionAnnouncer, isSessionMetaProcedure } from './session-meta.ts';
import { createSessionStates } from './session-states.ts';
import { createSubscriptionLimit } from './subscription-limit.ts';
import { VecheContext, kwargsOf } from './wamp-context.ts';
import { sanitizedOptions, wampMessage, wampShapeProblem } from './wamp-messages.ts';
import { vecheRealm } from '@veche/wamp-policy';

export interface GateDependencies {
  log: Logger;
  authenticate: Authenticator;
  authorize: Authorizer;
  authTimeoutMs: number;
  realm: FoxRealm;
  routerCalls: RouterCalls;
  maxSubscriptions: number;
  registrations: RegistrationRules;
}

export type Gate = ReturnType<typeof createGate>;

export function createGate(router: FoxRouter, deps: GateDependencies) {
  const { log, registrations } = deps;
  const states = createSessionStates(log);
  const { stateOf, protocolViolation } = states;
  const decide = createAuthorizationCheck(deps.authorize, log, states);
  const kills = createSessionKills(log, states);
  const announcer = createSessionAnnouncer(deps.realm, log);
  const subscriptions = createSubscriptionLimit(deps.maxSubscriptions, log);

  class VecheGate extends WampGate {
    readonly #handshake = createHandshake({
      ...deps,
      states,
      kills,
      announcer,
      realmDetails: () => this.makeRealmDetails(vecheRealm),
    });

    /** Whether the session has said HELLO yet (connections that never do are closed by the router). */
    helloReceived(session: FoxSession): boolean {
      return stateOf(session).stage !== 'new';
    }

    /** Prepares a new session for the gate. */
    adopt(session: FoxSession): void {
      subscriptions.count(session);
    }

    /** The connection of `session` closed. */
    forget(session: FoxSession): void {
      kills.gone(session);
      registrations.calleeGone(session.sessionId);
      announcer.leave(session);
    }

    override createContext(session: FoxSession, writer: FoxSocketWriter): FoxContext {
      return new VecheContext(this.getRouter(), session, writer);
    }

    /** fox-wamp's hook for subscribe and publish; it passes the URI split on dots. */
    override checkAuthorize(ctx: FoxContext, cmd: FoxCommand, funcClass: string): boolean {
      const uri = (cmd.uri ?? []).join('.');
      if (decide(ctx.getSession(), funcClass as WampAction, uri)) return true;
      // A broker answers an unacknowledged publish with nothing, not even an error.
      if (funcClass === 'publish' && !cmd.ack) return false;
      ctx.wampSendError(
        funcClass === 'publish' ? wampMessage.PUBLISH : wampMessage.SUBSCRIBE,
        cmd.id,
        'wamp.error.not_authorized',
        [],
      );
      return false;
    }

    override handle(ctx: FoxContext, session: FoxSession, raw: unknown[]): void {
      const state = stateOf(session);
      if (state.stage === 'closed') return;
      const problem = wampShapeProblem(raw);
      if (problem) {
        protocolViolation(ctx, session, problem);
        return;
      }
      const message = [...raw];
      const type = message[0] as number;
      if (type === wampMessage.HELLO) {
        this.#handshake.hello(ctx, session, message[1] as string, message[2] as Record<string, unknown>);
        return;
      }
      if (type === wampMessage.AUTHENTICATE) {
        this.#handshake.authenticate(ctx, session, message[1] as string);
        return;
      }
      if (state.stage !== 'joined') {
        protocolViolation(ctx, session, 'message before WELCOME');
        return;
      }
      switch (type) {
        case wampMessage.PUBLISH:
        case wampMessage.CALL:
        case wampMessage.SUBSCRIBE:
        case wampMessage.REGISTER:
        case wampMessage.YIELD:
          message[2] = sanitizedOptions(type, message[2] as Record<string, unknown>);
          break;
        default:
          break;
      }
      const forward = () => super.handle(ctx, session, message);
      if (type === wampMessage.SUBSCRIBE && subscriptions.refused(ctx, session, type, message[1])) return;
      if (type === wampMessage.REGISTER && refusedRestrictedRegistration(ctx, message)) return;
      if (type === wampMessage.REGISTER || type === wampMessage.CALL) {
        const action = type === wampMessage.REGISTER ? 'register' : 'call';
        if (!decide(session, action, message[3] as string)) {
          ctx.wampSendError(type, message[1], 'wamp.error.not_authorized', []);
          return;
        }
        if (type === wampMessage.REGISTER) {
          register(log, registrations, ctx, session, message, raw[2], forward);
          return;
        }
        if (isKillProcedure(message[3])) {
          kills.callKill(ctx, session, message);
          return;
        }
        if (isSessionMetaProcedure(message[3])) {
          const answer = answerSessionMeta(
            message[3],
            Array.isArray(message[4]) ? (message[4] as unknown[]) : [],
            kwargsOf(message[5]),
            announcer.announced,
          );
          if ('error' in answer) {
            ctx.wampSendError(type, message[1], answer.error, [], { message: answer.message });
          } else {
            ctx.wampSend([wampMessage.RESULT, message[1], {}, [answer.result]]);
          }
          return;
        }
      }
      if (type === wampMessage.ERROR) {
        passCalleeError(ctx, session, message);
        return;
      }
      if (type === wampMessage.CANCEL) return; // fox-wamp does not implement cancel; callers time out.
      if (type === wampMessage.YIELD) {
        forwardYield(ctx, forward);
        return;
      }
      forward();
    }
  }

  return new VecheGate(router);
}
