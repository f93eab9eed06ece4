/**
 * The small part of fox-wamp 0.7.28 (untyped CommonJS) the wrapper uses, loaded and typed in one place.
 * We use its router core (realms, brokers, dealers) and its WAMP gate, and replace its transport:
 * see router.ts for why.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A callee's registration in fox-wamp's dealer. */
export interface FoxActorReg {
  readonly subId: number;
  /** The callee's context (its session and the way to write to it). */
  readonly ctx: FoxContext;
  getUri(): string[];
  isAble(): boolean;
  callWorker(task: FoxActorCall): void;
}

/** A pending call. */
export interface FoxActorCall {
  getUri(): string[];
  /** The callee sessions it was sent to (once invoked). */
  destSID?: Record<string, boolean>;
  /** The caller's request. */
  msg: { id: unknown };
  ctx: FoxContext & { sendResult(cmd: FoxCommand): void };
  isActual(): boolean;
}

/** fox-wamp's broker and dealer state of a realm. */
export interface FoxEngine {
  /** The registrations of a URI, keyed by registration id. */
  getSubStack(uri: string): Record<string, FoxActorReg>;
  addSub(uri: string[], actor: FoxActorReg): void;
  /** Invocations waiting for their callee's YIELD, by invocation id. */
  qYield: { defers: Map<unknown, FoxActorCall> };
  /** Invokes a callee of the call's URI, queues the call when all are busy, throws when there is none. */
  doCall(task: FoxActorCall): null | undefined;
}

export interface FoxRealm {
  readonly engine: FoxEngine;
  joinSession(session: FoxSession): void;
  cmdYield(ctx: FoxContext, cmd: FoxCommand): void;
  getSessionCount(): number;
  wampApi(): FoxWampApi;
  /** The realm is an EventEmitter (`session.join`, `session.leave`, …). */
  removeAllListeners(event: string): unknown;
}

export interface FoxWampApi {
  /** Rejects with `{ code, message }` (a WAMP error URI) or a RealmError when nobody serves the procedure. */
  callrpc(
    uri: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
  ): Promise<{ args: unknown; kwargs: unknown }>;
  publish(
    uri: string,
    args: unknown[],
    kwargs: Record<string, unknown>,
    options: Record<string, unknown>,
  ): Promise<void>;
}

export interface FoxSession {
  readonly sessionId: number;
  realm: FoxRealm | null;
  realmName: string | undefined;
  secureDetails: unknown;
  setAuthMethod(method: string): void;
  setUserDetails(details: unknown): void;
  getUserDetails(): unknown;
  setGateProtocol(name: string): void;
  isActive(): boolean;
  /** Leaves the realm (its subscriptions and registrations end); harmless when already left. */
  cleanup(): unknown;
  /** fox-wamp keeps a session's subscriptions as "traces" (and its registrations as "subs"). */
  addTrace(id: unknown, subscription: unknown): void;
  getTrace(id: unknown): unknown;
  removeTrace(engine: unknown, id: unknown): unknown;
  /** Drops one of the session's registrations from the session and the engine. */
  removeSub(engine: unknown, id: number): unknown;
}

export interface FoxRouter {
  createSession(): FoxSession;
  removeSession(session: FoxSession): void;
  getRealm(name: string): Promise<FoxRealm>;
}

/** What fox-wamp's contexts write through: our transport implements it. */
export interface FoxSocketWriter {
  wampPkgWrite(message: unknown[], callback?: (error?: Error) => void): void;
  wampPkgClose(code: number, reason: string): void;
}

/** fox-wamp's internal command record (`id` is the client's request id, `uri` split on dots). */
export interface FoxCommand {
  id?: unknown;
  qid?: unknown;
  subId?: unknown;
  uri?: string[];
  err?: unknown;
  rsp?: unknown;
  ack?: boolean;
  hdr?: unknown;
  data?: unknown;
  opt?: Record<string, unknown>;
}

export interface FoxContext {
  getSession(): FoxSession;
  wampSend(message: unknown[], callback?: () => void): void;
  wampClose(code: number, reason: string): void;
  wampSendError(
    messageType: number,
    requestId: unknown,
    uri: string,
    args: unknown[],
    kwargs?: unknown,
  ): void;
  sendError(cmd: FoxCommand, errorCode: unknown, text?: string): void;
}

export interface FoxWampGate {
  getRouter(): FoxRouter;
  handle(ctx: FoxContext, session: FoxSession, message: unknown[]): void;
  createContext(session: FoxSession, writer: FoxSocketWriter): FoxContext;
  checkAuthorize(ctx: FoxContext, cmd: FoxCommand, funcClass: string): boolean;
  makeRealmDetails(realmName: string): Record<string, unknown>;
}

export type FoxWampGateClass = new (router: FoxRouter) => FoxWampGate;
export type FoxContextClass = new (
  router: FoxRouter,
  session: FoxSession,
  writer: FoxSocketWriter,
) => FoxContext;

interface GateModule {
  WampGate: FoxWampGateClass;
  WampSocketWriterContext: FoxContextClass;
  toWampArgs: (body: unknown) => unknown[] | null;
  buildInvokeOpt: (cmd: FoxCommand) => Record<string, unknown>;
  buildEventOpt: (cmd: FoxCommand) => Record<string, unknown>;
}

const gateModule = require('fox-wamp/lib/wamp/gate.js') as GateModule;
const msgModule = require('fox-wamp/lib/wamp/msg.js') as { wampErrorCode: (code: unknown) => string };
const topicPatternModule = require('fox-wamp/lib/topic_pattern.js') as {
  restoreUri: (uri: string[]) => string;
};
const realmErrorModule = require('fox-wamp/lib/realm_error.js') as {
  errorCodes: Record<string, unknown>;
  RealmError: new (...args: unknown[]) => Error;
};

export const FoxRouterClass = require('fox-wamp') as new () => FoxRouter;
export const WampGate = gateModule.WampGate;
export const WampSocketWriterContext = gateModule.WampSocketWriterContext;
export const { toWampArgs, buildInvokeOpt, buildEventOpt } = gateModule;
export const { wampErrorCode } = msgModule;
export const { restoreUri } = topicPatternModule;
export const foxErrorCodes = realmErrorModule.errorCodes;
export const RealmError = realmErrorModule.RealmError;
