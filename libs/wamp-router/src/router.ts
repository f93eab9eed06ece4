/**
 * The local/test WAMP router: fox-wamp's broker and dealer behind our own WebSocket transport, ticket
 * authentication and the shared authorization policy. Production uses Crossbar (ADR 0004).
 *
 * fox-wamp's own transport is replaced rather than configured: it has no `error` listener on sockets,
 * logs with console.log, and hands unchecked messages to the gate. Its gate is subclassed to check
 * every message's shape, to authorize register and call (its hook covers only subscribe and publish),
 * and to pass callee error URIs and kwargs through to the caller (it replaces them with
 * `wamp.error.callee_failure`).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { Logger } from '@veche/log';
import {
  createWampPolicy,
  vecheRealm,
  type AuthorizationDecision,
  type WampAction,
  type WampPrincipal,
} from '@veche/wamp-policy';
import type { Authenticator, RouterCalls, TicketIdentity } from './authenticators.ts';
import {
  FoxRouterClass,
  RealmError,
  WampGate,
  WampSocketWriterContext,
  buildEventOpt,
  buildInvokeOpt,
  toWampArgs,
  wampErrorCode,
  type FoxCommand,
  type FoxContext,
  type FoxRealm,
  type FoxRouter,
  type FoxSession,
  type FoxSocketWriter,
} from './fox-wamp.ts';
import {
  answerSessionMeta,
  isSessionMetaProcedure,
  sessionDetails,
  sessionMetaTopics,
} from './session-meta.ts';
import { installRegistrationRules, type InvokePolicy, type RegistrationRules } from './registrations.ts';
import { sanitizedOptions, wampMessage, wampShapeProblem } from './wamp-messages.ts';

export type Authorizer = (
  principal: WampPrincipal,
  action: WampAction,
  uri: string,
) => AuthorizationDecision | boolean;

export interface RouterOptions {
  log: Logger;
  authenticate: Authenticator;
  /** Default: the shared Veche policy with no public procedures. */
  authorize?: Authorizer;
  host?: string;
  /** 0 (the default) picks a free port. Ignored with `server`. */
  port?: number;
  /**
   * Attach to this HTTP server's `upgrade` event instead of listening on a port of our own; other
   * paths' upgrades are left to the server's other listeners.
   */
  server?: Server;
  /** Accept WebSocket upgrades only on this path (default: any path on our own port, `/ws` when attached). */
  path?: string;
  /** Largest WebSocket message accepted; bigger ones close the connection with 1009. Default 1 MiB. */
  maxPayloadBytes?: number;
  /**
   * Most bytes queued for one client that does not read; beyond it the connection is dropped (1008),
   * so a stalled subscriber cannot grow the router's memory without bound. Default 16 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * How long a client may take from connecting to HELLO, and again from HELLO to WELCOME; a
   * connection that idles past either is closed. Default 10 s.
   */
  authTimeoutMs?: number;
  /** Most live subscriptions one session may hold; more are refused with `veche.error.rate_limited`. Default 1000. */
  maxSubscriptionsPerSession?: number;
  /**
   * Log unhandled promise rejections instead of letting them end the process while the router runs
   * (fox-wamp has code paths that reject without a handler). Default true.
   */
  guardUnhandledRejections?: boolean;
}

export interface WampRouter {
  readonly port: number;
  /** `ws://host:port/path` to connect to. */
  readonly url: string;
  /** Hand an HTTP upgrade to the router (for servers that route upgrades themselves). */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  sessionCount(): number;
  close(): Promise<void>;
}

const subprotocol = 'wamp.2.json';

type SessionStage = 'new' | 'challenged' | 'authenticating' | 'joined' | 'closed';

interface SessionState {
  stage: SessionStage;
  principal?: WampPrincipal;
  authTimer?: NodeJS.Timeout;
}

const killProcedures = ['wamp.session.kill', 'wamp.session.kill_by_authid', 'wamp.session.kill_by_authrole'];
const isKillProcedure = (uri: unknown): boolean => killProcedures.includes(uri as string);

const closeCodes = { protocolError: 1002, goingAway: 1001, normal: 1000, policyViolation: 1008 } as const;

function argsOf(data: unknown): unknown[] {
  if (typeof data === 'object' && data !== null && Array.isArray((data as { args?: unknown }).args)) {
    return (data as { args: unknown[] }).args;
  }
  return toWampArgs(data) ?? [];
}

const kwargsOf = (hdr: unknown): Record<string, unknown> =>
  typeof hdr === 'object' && hdr !== null && !Array.isArray(hdr) ? (hdr as Record<string, unknown>) : {};

/**
 * fox-wamp's context, writing args and kwargs verbatim (it unwraps a single argument and wraps it
 * again, which turns `[[1, 2]]` into `[1, 2]` and `[null]` into `null`) and error URIs as given.
 */
class VecheContext extends WampSocketWriterContext {
  sendResult(cmd: FoxCommand): void {
    if (cmd.err !== undefined && cmd.err !== null) {
      this.wampSendError(
        wampMessage.CALL,
        cmd.id,
        wampErrorCode(cmd.err),
        argsOf(cmd.data),
        kwargsOf(cmd.hdr),
      );
      return;
    }
    const details = cmd.rsp === 'EMIT' ? { progress: true } : {};
    this.wampSend([wampMessage.RESULT, cmd.id, details, argsOf(cmd.data), kwargsOf(cmd.hdr)]);
  }

  sendInvoke(cmd: FoxCommand): void {
    this.wampSend([
      wampMessage.INVOCATION,
      cmd.qid,
      cmd.subId,
      buildInvokeOpt(cmd),
      argsOf(cmd.data),
      kwargsOf(cmd.hdr),
    ]);
  }

  sendEvent(cmd: FoxCommand & { traceId?: unknown }): void {
    this.wampSend([
      wampMessage.EVENT,
      cmd.traceId,
      cmd.qid,
      buildEventOpt(cmd),
      argsOf(cmd.data),
      kwargsOf(cmd.hdr),
    ]);
  }
}

interface GateDependencies {
  log: Logger;
  authenticate: Authenticator;
  authorize: Authorizer;
  authTimeoutMs: number;
  realm: FoxRealm;
  routerCalls: RouterCalls;
  maxSubscriptions: number;
  registrations: RegistrationRules;
}

function createGate(router: FoxRouter, deps: GateDependencies) {
  const states = new WeakMap<FoxSession, SessionState>();
  const stateOf = (session: FoxSession): SessionState => {
    let state = states.get(session);
    if (!state) {
      state = { stage: 'new' };
      states.set(session, state);
    }
    return state;
  };

  const abort = (ctx: FoxContext, session: FoxSession, reason: string, message?: string) => {
    const state = stateOf(session);
    state.stage = 'closed';
    clearTimeout(state.authTimer);
    ctx.wampSend([wampMessage.ABORT, message ? { message } : {}, reason], () =>
      ctx.wampClose(closeCodes.normal, 'session aborted'),
    );
  };

  const protocolViolation = (ctx: FoxContext, session: FoxSession, problem: string) => {
    deps.log.info({ sessionId: session.sessionId, problem }, 'protocol violation, closing session');
    const state = stateOf(session);
    state.stage = 'closed';
    clearTimeout(state.authTimer);
    ctx.wampSend([wampMessage.ABORT, { message: problem }, 'wamp.error.protocol_violation'], () =>
      ctx.wampClose(closeCodes.protocolError, 'protocol violation'),
    );
  };

  const decide = (session: FoxSession, action: WampAction, uri: string): boolean => {
    const principal = stateOf(session).principal;
    if (!principal) return false;
    let decision: AuthorizationDecision | boolean;
    try {
      decision = deps.authorize(principal, action, uri);
    } catch (error) {
      deps.log.error({ err: error, action, uri }, 'authorizer threw; denying');
      return false;
    }
    const allowed = typeof decision === 'boolean' ? decision : decision.allowed;
    if (!allowed) {
      deps.log.info(
        {
          sessionId: session.sessionId,
          authid: principal.authid,
          authrole: principal.authrole,
          action,
          uri,
          reason: typeof decision === 'boolean' ? undefined : decision.reason,
        },
        'not authorized',
      );
    }
    return allowed;
  };

  /** Joined sessions and the context to write to each, for the meta procedure that ends them. */
  const joined = new Map<FoxSession, FoxContext>();
  /** Sessions announced by `wamp.session.on_join`, until their `on_leave` (the session meta API). */
  const announced = new Map<number, WampPrincipal>();
  const publishMeta = (topic: string, args: unknown[]) => {
    deps.realm
      .wampApi()
      .publish(topic, args, {}, { exclude_me: false })
      .catch((error: unknown) => deps.log.warn({ err: error, topic }, 'session meta event failed'));
  };
  const announceLeave = (session: FoxSession) => {
    const principal = announced.get(session.sessionId);
    if (!principal) return;
    announced.delete(session.sessionId);
    publishMeta(sessionMetaTopics.onLeave, [session.sessionId, principal.authid, principal.authrole]);
  };

  /**
   * Ends a joined session as Crossbar's meta procedures do (a GOODBYE with the reason and message),
   * and takes it out of the realm at once: its subscriptions end now, not when its connection closes,
   * so a client that ignores the GOODBYE receives nothing more.
   */
  const kill = (session: FoxSession, sessionCtx: FoxContext, reason: string, text: unknown) => {
    if (stateOf(session).stage === 'closed') return;
    const state = stateOf(session);
    state.stage = 'closed';
    joined.delete(session);
    session.cleanup();
    sessionCtx.wampSend(
      [wampMessage.GOODBYE, typeof text === 'string' ? { message: text.slice(0, 200) } : {}, reason],
      () => sessionCtx.wampClose(closeCodes.normal, 'session killed'),
    );
  };

  /**
   * `wamp.session.kill(session_id, reason?, message?)`, `wamp.session.kill_by_authid(authid, reason?,
   * message?)` and `wamp.session.kill_by_authrole(authrole, reason?, message?)`, as Crossbar 21.3.1
   * offers them (crossbar/router/service.py):
   *
   * - arguments come positionally or by name; a missing or mistyped one (not an integer id, not a
   *   string authid/authrole/reason/message) is Crossbar's `assert`/`TypeError`, which autobahn-python
   *   answers `wamp.error.runtime_error`;
   * - `kill` ends one session and answers nothing, or `wamp.error.no_such_session` (also for the
   *   router's own restricted sessions, which have no role here and are never joined);
   * - `kill_by_authid` and `kill_by_authrole` end every joined session of the authid or authrole,
   *   the caller's own included, and answer the list of ended ids (possibly empty);
   * - the GOODBYE's reason is `reason` when given and not empty, `wamp.close.normal` otherwise
   *   (autobahn's default).
   *
   * The caller's own session, when it is among the ended ones, gets its RESULT first and its GOODBYE
   * right after (Crossbar sends the GOODBYE first; the result would be lost on a closing session).
   */
  const killMeta = (ctx: FoxContext, caller: FoxSession, message: unknown[]) => {
    const [, requestId, , procedure, args, kwargs] = message as [
      number,
      number,
      unknown,
      string,
      unknown,
      unknown,
    ];
    const positional: unknown[] = Array.isArray(args) ? (args as unknown[]) : [];
    const named = kwargsOf(kwargs);
    const targetName =
      procedure === 'wamp.session.kill'
        ? 'session_id'
        : procedure === 'wamp.session.kill_by_authid'
          ? 'authid'
          : 'authrole';
    const target = positional[0] ?? named[targetName];
    const reason = positional[1] ?? named['reason'] ?? null;
    const text = positional[2] ?? named['message'] ?? null;
    const runtimeError = (problem: string) =>
      ctx.wampSendError(wampMessage.CALL, requestId, 'wamp.error.runtime_error', [problem]);
    if (target === undefined) {
      runtimeError(`${procedure}() missing 1 required positional argument: '${targetName}'`);
      return;
    }
    const targetOk = targetName === 'session_id' ? Number.isSafeInteger(target) : typeof target === 'string';
    if (
      !targetOk ||
      (reason !== null && typeof reason !== 'string') ||
      (text !== null && typeof text !== 'string')
    ) {
      runtimeError('invalid argument type');
      return;
    }
    // As Crossbar: any string is sent as given (capped here), an empty or missing one is the default.
    const goodbyeReason = ((typeof reason === 'string' && reason) || 'wamp.close.normal').slice(0, 255);
    const by = stateOf(caller).principal?.authid;
    if (procedure === 'wamp.session.kill') {
      const found = [...joined].find(([session]) => session.sessionId === target);
      if (!found) {
        ctx.wampSendError(wampMessage.CALL, requestId, 'wamp.error.no_such_session', [
          `no session with ID ${JSON.stringify(target)} exists on this router`,
        ]);
        return;
      }
      if (found[0] !== caller) kill(found[0], found[1], goodbyeReason, text);
      deps.log.info({ sessionId: target, reason: goodbyeReason, by }, 'session killed');
      ctx.wampSend([wampMessage.RESULT, requestId, {}]);
      if (found[0] === caller) kill(caller, ctx, goodbyeReason, text);
      return;
    }
    const field = targetName === 'authid' ? 'authid' : 'authrole';
    const victims = [...joined].filter(([session]) => stateOf(session).principal?.[field] === target);
    let callerToo = false;
    for (const [session, sessionCtx] of victims) {
      if (session === caller) callerToo = true;
      else kill(session, sessionCtx, goodbyeReason, text);
    }
    const killed = victims.map(([session]) => session.sessionId);
    deps.log.info({ [field]: target, killed: killed.length, reason: goodbyeReason, by }, 'sessions killed');
    ctx.wampSend([wampMessage.RESULT, requestId, {}, [killed]]);
    if (callerToo) kill(caller, ctx, goodbyeReason, text);
  };

  /** Live subscriptions per session, counted where fox-wamp adds and removes them. */
  const subscriptionCounts = new WeakMap<FoxSession, number>();
  const countSubscriptions = (session: FoxSession) => {
    const add = session.addTrace.bind(session);
    const remove = session.removeTrace.bind(session);
    session.addTrace = (id, subscription) => {
      if (session.getTrace(id) === undefined) {
        subscriptionCounts.set(session, (subscriptionCounts.get(session) ?? 0) + 1);
      }
      add(id, subscription);
    };
    session.removeTrace = (engine, id) => {
      if (session.getTrace(id) !== undefined) {
        subscriptionCounts.set(session, (subscriptionCounts.get(session) ?? 1) - 1);
      }
      return remove(engine, id);
    };
  };

  class VecheGate extends WampGate {
    /** Whether the session has said HELLO yet (connections that never do are closed by the router). */
    helloReceived(session: FoxSession): boolean {
      return stateOf(session).stage !== 'new';
    }

    /** Prepares a new session for the gate. */
    adopt(session: FoxSession): void {
      countSubscriptions(session);
    }

    /** The connection of `session` closed. */
    forget(session: FoxSession): void {
      joined.delete(session);
      deps.registrations.calleeGone(session.sessionId);
      announceLeave(session);
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
        this.onHello(ctx, session, message[1] as string, message[2] as Record<string, unknown>);
        return;
      }
      if (type === wampMessage.AUTHENTICATE) {
        this.onAuthenticate(ctx, session, message[1] as string);
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
      if (type === wampMessage.SUBSCRIBE && (subscriptionCounts.get(session) ?? 0) >= deps.maxSubscriptions) {
        deps.log.info({ sessionId: session.sessionId }, 'subscription limit reached');
        ctx.wampSendError(type, message[1], 'veche.error.rate_limited', [], {
          message: `at most ${deps.maxSubscriptions} subscriptions per session`,
        });
        return;
      }
      if (type === wampMessage.REGISTER && (message[3] as string).startsWith('wamp.')) {
        // Crossbar keeps the `wamp.` namespace to its own (trusted) sessions, before authorization.
        ctx.wampSendError(type, message[1], 'wamp.error.invalid_uri', [
          `register for restricted procedure URI '${message[3] as string}'`,
        ]);
        return;
      }
      if (type === wampMessage.REGISTER || type === wampMessage.CALL) {
        const action = type === wampMessage.REGISTER ? 'register' : 'call';
        if (!decide(session, action, message[3] as string)) {
          ctx.wampSendError(type, message[1], 'wamp.error.not_authorized', []);
          return;
        }
        if (type === wampMessage.REGISTER) {
          const options = raw[2] as { invoke?: InvokePolicy; force_reregister?: boolean | null };
          const invoke = options.invoke ?? 'single';
          const force = options.force_reregister === true;
          const refusal = force ? undefined : deps.registrations.refusal(message[3] as string, invoke);
          if (refusal) {
            deps.log.info(
              { sessionId: session.sessionId, procedure: message[3], invoke, refusal },
              'registration refused',
            );
            ctx.wampSendError(type, message[1], refusal, [
              `register for already registered procedure '${message[3] as string}'`,
            ]);
            return;
          }
          if (force) {
            const evicted = deps.registrations.evict(message[3] as string);
            if (evicted > 0)
              deps.log.info(
                { sessionId: session.sessionId, procedure: message[3], evicted },
                'force_reregister: existing callees dropped',
              );
          }
          deps.registrations.registering(invoke, () => super.handle(ctx, session, message));
          return;
        }
        if (type === wampMessage.CALL && isKillProcedure(message[3])) {
          killMeta(ctx, session, message);
          return;
        }
        if (type === wampMessage.CALL && isSessionMetaProcedure(message[3])) {
          const answer = answerSessionMeta(
            message[3],
            Array.isArray(message[4]) ? (message[4] as unknown[]) : [],
            kwargsOf(message[5]),
            announced,
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
        this.calleeError(ctx, session, message);
        return;
      }
      if (type === wampMessage.CANCEL) return; // fox-wamp does not implement cancel; callers time out.
      if (type === wampMessage.YIELD) {
        // A YIELD for no pending invocation (the caller left, or an id the callee made up): fox-wamp
        // answers an ERROR for message type YIELD whose error is its internal number 103, not a URI,
        // which no client understands. A router has nobody to deliver it to: ignore it, as for an
        // ERROR above. (Found by fuzzing: test/fuzz.int.spec.ts.)
        const own = Object.hasOwn(ctx, 'wampSendError');
        const send = ctx.wampSendError.bind(ctx);
        ctx.wampSendError = () => {};
        try {
          super.handle(ctx, session, message);
        } finally {
          if (own) ctx.wampSendError = send;
          else delete (ctx as Partial<FoxContext>).wampSendError;
        }
        return;
      }
      super.handle(ctx, session, message);
    }

    /** Passes a callee's error URI, args and kwargs to the caller (fox-wamp drops all three). */
    calleeError(ctx: FoxContext, session: FoxSession, message: unknown[]): void {
      const [, requestType, requestId, , uri, args, kwargs] = message;
      if (requestType !== wampMessage.INVOCATION) return;
      try {
        session.realm?.cmdYield(ctx, {
          qid: requestId,
          err: uri,
          data: { args: args ?? [] },
          hdr: kwargs ?? {},
        });
      } catch (error) {
        // An error for an invocation that is no longer pending (the caller left): nothing to deliver.
        if (!(error instanceof RealmError)) throw error;
      }
    }

    onHello(ctx: FoxContext, session: FoxSession, realmName: string, details: Record<string, unknown>): void {
      const state = stateOf(session);
      if (state.stage !== 'new') {
        protocolViolation(ctx, session, 'HELLO after HELLO');
        return;
      }
      if (realmName !== vecheRealm) {
        deps.log.info({ sessionId: session.sessionId, realm: realmName.slice(0, 100) }, 'unknown realm');
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
    }

    onAuthenticate(ctx: FoxContext, session: FoxSession, ticket: string): void {
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
          ...this.makeRealmDetails(vecheRealm),
          authid: principal.authid,
          authrole: principal.authrole,
          authmethod: 'ticket',
          authprovider: 'veche',
        };
        if (identity.authextra) welcome['authextra'] = identity.authextra;
        deps.log.debug({ sessionId: session.sessionId, ...principal }, 'session joined');
        ctx.wampSend([wampMessage.WELCOME, session.sessionId, welcome]);
        joined.set(session, ctx);
        announced.set(session.sessionId, principal);
        publishMeta(sessionMetaTopics.onJoin, [sessionDetails(session.sessionId, principal)]);
      };
      const fail = (error: unknown) => {
        if (state.stage !== 'authenticating') return;
        deps.log.info({ sessionId: session.sessionId, authid, err: error }, 'authentication failed');
        abort(ctx, session, 'wamp.error.authentication_failed');
      };
      deps
        .authenticate({ realm: vecheRealm, authid, ticket, session: session.sessionId }, deps.routerCalls)
        .then(succeed, fail)
        .catch((error: unknown) => {
          deps.log.error({ err: error, sessionId: session.sessionId }, 'joining the realm failed');
          ctx.wampClose(1011, 'internal error');
        });
    }
  }

  return new VecheGate(router);
}

/** Calls a procedure registered on the router from inside it (dynamic authenticators). */
function createRouterCalls(realm: FoxRealm): RouterCalls {
  return {
    async call(procedure, args, kwargs, timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${procedure} timed out after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        const result = await Promise.race([realm.wampApi().callrpc(procedure, args, kwargs), timeout]);
        return result.args;
      } catch (error) {
        if (error instanceof Error) throw error;
        throw new Error(`${procedure} failed: ${JSON.stringify(error)}`);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

export async function startRouter(options: RouterOptions): Promise<WampRouter> {
  const log = options.log;
  const maxPayload = options.maxPayloadBytes ?? 1024 * 1024;
  const maxBuffered = options.maxBufferedBytes ?? 16 * 1024 * 1024;
  const path = options.path ?? (options.server ? '/ws' : undefined);
  const policy = createWampPolicy();
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;

  const guard = (reason: unknown) => {
    log.error({ err: reason }, 'unhandled promise rejection (kept the router running)');
  };
  if (options.guardUnhandledRejections ?? true) process.on('unhandledRejection', guard);

  const fox = new FoxRouterClass();
  const realm = await fox.getRealm(vecheRealm);
  // fox-wamp's own session meta events carry no authid and fire for its internal sessions too; the
  // gate announces joined sessions the way Crossbar does instead (session-meta.ts).
  realm.removeAllListeners('session.join');
  realm.removeAllListeners('session.leave');
  // fox-wamp draws 6 fresh random bytes (a system call) for every call's INVOCATION id. Those ids are
  // in the callee session's scope (WAMP §7.1.2: sequential is fine) and only need to be unique among
  // the calls in flight: a counter from a random start does that without the system call.
  let nextInvocationId = 1 + Math.floor(Math.random() * 2 ** 40);
  (realm.engine as unknown as { mkDeferId: () => number }).mkDeferId = () => {
    nextInvocationId = nextInvocationId >= 2 ** 53 ? 1 : nextInvocationId + 1;
    return nextInvocationId;
  };
  const gate = createGate(fox, {
    log,
    authenticate: options.authenticate,
    authorize: options.authorize ?? policy.authorize,
    authTimeoutMs,
    realm,
    routerCalls: createRouterCalls(realm),
    maxSubscriptions: options.maxSubscriptionsPerSession ?? 1000,
    registrations: installRegistrationRules(realm.engine),
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(subprotocol) ? subprotocol : false),
  });
  wss.on('error', (error) => log.error({ err: error }, 'WebSocket server error'));

  const accept = (socket: WebSocket) => {
    const session = fox.createSession();
    session.setGateProtocol(subprotocol);
    gate.adopt(session);
    const sessionLog = log.child({ sessionId: session.sessionId });
    // A connection that never says HELLO would hold a socket for ever.
    const helloTimer = setTimeout(() => {
      if (gate.helloReceived(session)) return;
      sessionLog.info('no HELLO in time; closing the connection');
      socket.close(closeCodes.policyViolation, 'no HELLO');
      setTimeout(() => socket.terminate(), 1000).unref();
    }, authTimeoutMs);
    helloTimer.unref();
    // Invalid UTF-8, oversized or unmasked frames surface here; ws then closes the socket itself.
    socket.on('error', (error) => sessionLog.info({ err: error }, 'socket error'));
    // Every WAMP message is a frame of its own, and each frame one write system call: a publication to
    // many subscribers, or a burst of results, wrote hundreds per tick. Corking the TCP socket until the
    // tick ends sends them in one writev (ws exposes no cork; its socket is `_socket`, kept by ws 8).
    const tcp = (socket as unknown as { _socket?: { cork(): void; uncork(): void; destroyed: boolean } })
      ._socket;
    let corked = false;
    const uncork = () => {
      corked = false;
      if (tcp && !tcp.destroyed) tcp.uncork();
    };
    const corkForThisTick = () => {
      if (corked || !tcp) return;
      corked = true;
      tcp.cork();
      process.nextTick(uncork);
    };
    const writer: FoxSocketWriter = {
      wampPkgWrite(message, callback) {
        if (socket.readyState !== WebSocket.OPEN) return;
        if (socket.bufferedAmount > maxBuffered) {
          sessionLog.warn({ bufferedAmount: socket.bufferedAmount }, 'client does not read; dropping it');
          socket.close(1008, 'too slow');
          socket.terminate();
          return;
        }
        corkForThisTick();
        socket.send(
          JSON.stringify(message),
          callback
            ? (error) => {
                if (error) sessionLog.debug({ err: error }, 'send failed');
                callback(error);
              }
            : undefined,
        );
      },
      wampPkgClose(code, reason) {
        socket.close(code, reason);
      },
    };
    socket.on('close', () => {
      clearTimeout(helloTimer);
      gate.forget(session);
      fox.removeSession(session);
    });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const ctx = gate.createContext(session, writer);
      let message: unknown;
      try {
        if (isBinary) throw new Error('binary frame on wamp.2.json');
        message = JSON.parse(
          Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'),
        );
      } catch {
        // An empty array fails the shape check, which answers with a protocol violation.
        gate.handle(ctx, session, []);
        return;
      }
      try {
        gate.handle(ctx, session, message as unknown[]);
      } catch (error) {
        sessionLog.warn({ err: error }, 'message handling failed; closing the session');
        socket.close(1011, 'internal error');
      }
    });
  };

  let closing = false;
  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (closing || !offered.includes(subprotocol)) {
      socket.end(
        `HTTP/1.1 ${closing ? 503 : 400} ${closing ? 'Service Unavailable' : 'Bad Request'}\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(request, socket, head, accept);
  };

  // Only the path matters; no URL parsing, which throws on request targets such as `//`.
  const isOurPath = (request: IncomingMessage) =>
    path === undefined || (request.url ?? '/').split('?', 1)[0] === path;

  let server: Server;
  let ownServer = false;
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (isOurPath(request)) {
      handleUpgrade(request, socket, head);
    } else if (ownServer) {
      socket.on('error', (error) => log.debug({ err: error }, 'upgrade socket error'));
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    }
  };
  if (options.server) {
    server = options.server;
  } else {
    ownServer = true;
    server = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('This is a WAMP router: connect with WebSocket, subprotocol wamp.2.json.\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  }
  server.on('upgrade', onUpgrade);

  const address = server.address() as AddressInfo | null;
  const port = address?.port ?? 0;
  const host = options.host ?? (address?.address && address.address !== '::' ? address.address : '127.0.0.1');
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `ws://${urlHost}:${port}${path ?? '/'}`;
  log.info({ url, maxPayload }, 'WAMP router listening');

  return {
    port,
    url,
    handleUpgrade,
    sessionCount: () => realm.getSessionCount(),
    async close() {
      if (closing) return;
      closing = true;
      server.off('upgrade', onUpgrade);
      for (const client of wss.clients) client.close(closeCodes.goingAway, 'router shutting down');
      const deadline = Date.now() + 1_000;
      while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (ownServer) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      if (options.guardUnhandledRejections ?? true) process.off('unhandledRejection', guard);
      log.info('WAMP router stopped');
    },
  };
}
