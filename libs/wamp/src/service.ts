/**
 * A service's WAMP session: ticket authentication as `service:<name>`, automatic reconnection (its
 * procedures and subscriptions are registered again on every new session), procedures whose kwargs are
 * validated by a TypeBox schema, typed errors across the wire, and the correlation id carried from
 * caller to callee.
 *
 * Procedures are shared registrations (`invoke: roundrobin` unless asked otherwise): Crossbar refuses a
 * second callee of a single registration, so replicas of a service could not both start.
 *
 * Reconnection is ours, not autobahn's: autobahn stops retrying for good once a session leaves, whether
 * we leave (a registration refused while restoring) or the router ends the session (GOODBYE, ABORT).
 */
import { randomUUID } from 'node:crypto';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { VecheError, fromWampError, toWampError, unavailable, validationError } from '@veche/errors';
import { isDependencyDown } from '@veche/db';
import {
  currentCorrelationId,
  currentTraceparent,
  inSpan,
  SpanKind,
  withCorrelationId,
  type Logger,
} from '@veche/log';
import { recordWampPublication, wampProcedureCalls } from '@veche/metrics';
import { vecheRealm } from '@veche/wamp-policy';
import { registerVecheTransport, vecheTransportType } from './ws-transport.ts';
import {
  autobahn,
  isAutobahnError,
  isAutobahnResult,
  type AutobahnConnection,
  type AutobahnEndpoint,
  type AutobahnRegistration,
  type AutobahnSession,
  type Kwargs,
} from './autobahn.ts';

/**
 * The kwargs key that carries call metadata (the correlation id) from caller to callee. It is removed
 * before the callee validates its arguments.
 */
export const callMetaKey = '_meta';

/** What a call carries beside its arguments: the correlation id, and the caller's trace context. */
function callMeta(correlationId: string): { correlationId: string; traceparent?: string } {
  const traceparent = currentTraceparent();
  return traceparent ? { correlationId, traceparent } : { correlationId };
}

export interface ServiceConnectionOptions {
  url: string;
  /** `service:<name>`. */
  authid: string;
  /** The shared service secret (the ticket). */
  secret: string;
  log: Logger;
  realm?: string;
  /** First reconnection delay (default 200 ms), growing ×1.5 up to `maxRetryDelayMs` (default 5 s). */
  initialRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** How long `connectService` waits for the first session (default 30 s). */
  connectTimeoutMs?: number;
  /** Default timeout of `call` and acknowledged `publish` (default 10 s). */
  defaultTimeoutMs?: number;
}

export interface ProcedureContext {
  procedure: string;
  correlationId: string;
  /** The service's logger with `procedure` and `correlationId` bound. */
  log: Logger;
}

/** Crossbar's invocation policies; every callee of a URI must use the same one. */
export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last';

export interface RegisterOptions {
  /**
   * Default `roundrobin`: every replica serves the procedure. `single` only for a procedure exactly one
   * process may serve (a second one is then refused with `procedure_already_exists`).
   */
  invoke?: InvokePolicy;
}

export type ProcedureHandler<T extends TSchema> = (args: Static<T>, context: ProcedureContext) => unknown;

export interface CallOptions {
  /** Client-side limit (fox-wamp ignores call timeouts; Crossbar gets it as the CALL's `timeout` too). */
  timeoutMs?: number;
  /** Default: the current log context's, or a new one. */
  correlationId?: string;
  /**
   * How long to wait for a callee to (re-)register when nobody serves the procedure (default: the whole
   * timeout). The gateway sets it short, so a service that is down answers `unavailable` quickly.
   */
  calleeWaitMs?: number;
  /** Positional arguments (Crossbar's meta procedures, such as `wamp.session.get`, take them). */
  args?: readonly unknown[];
  /**
   * Send `kwargs` exactly as given, without the correlation id under `_meta`: for procedures that are
   * not ours and refuse unknown keyword arguments (Crossbar's meta API).
   */
  bare?: boolean;
}

export interface PublishOptions {
  /** Wait for the router's acknowledgement (the realtime relay does, before it moves its checkpoint). */
  acknowledge?: boolean;
  timeoutMs?: number;
}

/** May be async: a rejection is logged like a throw. */
export type EventHandler = (payload: Kwargs, args: unknown[]) => unknown;

export interface WampService {
  /** Serves `procedure` now (when connected) and on every later session. */
  register<T extends TSchema>(
    procedure: string,
    argsSchema: T,
    handler: ProcedureHandler<T>,
    options?: RegisterOptions,
  ): Promise<void>;
  /** Calls `procedure` with `kwargs`; errors arrive as VecheError (`unavailable` on timeout or nobody serving). */
  call<Result = unknown>(procedure: string, kwargs?: Kwargs, options?: CallOptions): Promise<Result>;
  /** Publishes `payload` as the event's kwargs. */
  publish(topic: string, payload: Kwargs, options?: PublishOptions): Promise<void>;
  /** Subscribes now (when connected) and on every later session. */
  subscribe(topic: string, handler: EventHandler): Promise<void>;
  readonly isConnected: boolean;
  /** Resolves when a session is open (at once if one is). */
  ready(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

// autobahn warns on the console on every lost connection; our onclose handler logs it instead.
autobahn.log.warn = () => {};

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const validCorrelationId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 128;

/** A thrown value from the wire (autobahn rejects with its Error object, or a string on a lost session). */
function toVecheError(error: unknown, procedure: string): VecheError {
  if (error instanceof VecheError) return error;
  if (isAutobahnError(error)) return fromWampError(error.error, error.kwargs);
  return unavailable(`WAMP session lost during ${procedure}`, { cause: error });
}

/** The validation errors of `value` against `schema`, as `{path, message}` for the caller. */
export function schemaProblems(schema: TSchema, value: unknown): { path: string; message: string }[] {
  return [...Value.Errors(schema, value)].slice(0, 20).map((e) => ({ path: e.path, message: e.message }));
}

/** Leaves a session that may already be closing (autobahn then throws a string). */
function leave(session: AutobahnSession, reason: string): void {
  try {
    (session as unknown as { leave: (reason: string) => void }).leave(reason);
  } catch {
    // Already closed: nothing to leave.
  }
}

export async function connectService(options: ServiceConnectionOptions): Promise<WampService> {
  const log = options.log.child({ component: 'wamp', authid: options.authid });
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 10_000;
  const procedures = new Map<string, { endpoint: AutobahnEndpoint; invoke: InvokePolicy }>();
  const subscriptions: { topic: string; handler: EventHandler }[] = [];
  let session: AutobahnSession | undefined;
  let closed = false;
  let joinWaiters: (() => void)[] = [];

  /** The current session's registrations, unregistered first on close (a graceful replica exit). */
  const live = new Map<AutobahnSession, AutobahnRegistration[]>();
  /** Invocations being handled now; close waits for them after unregistering. */
  let inFlight = 0;
  const registerOn = async (
    target: AutobahnSession,
    procedure: string,
    { endpoint, invoke }: { endpoint: AutobahnEndpoint; invoke: InvokePolicy },
  ) => {
    const registration = await target.register(procedure, endpoint, { invoke });
    const list = live.get(target) ?? [];
    list.push(registration);
    live.set(target, list);
  };
  const subscribeOn = async (target: AutobahnSession, topic: string, handler: EventHandler) => {
    await target.subscribe(topic, (args, kwargs) => {
      try {
        const result: unknown = handler(kwargs ?? {}, args ?? []);
        // An async handler's rejection would otherwise be unhandled (and end the process).
        if (result instanceof Promise) {
          result.catch((error: unknown) => log.error({ err: error, topic }, 'event handler failed'));
        }
      } catch (error) {
        log.error({ err: error, topic }, 'event handler threw');
      }
    });
  };

  registerVecheTransport();
  const connection: AutobahnConnection = new autobahn.Connection({
    url: options.url,
    transports: [{ type: vecheTransportType, url: options.url }],
    realm: options.realm ?? vecheRealm,
    authmethods: ['ticket'],
    authid: options.authid,
    onchallenge: () => options.secret,
    // onclose below reconnects; autobahn's own retry would stop after any leave.
    max_retries: 0,
    on_user_error: (error, message) => log.debug({ err: error }, message),
    on_internal_error: (error, message) => log.error({ err: error }, message),
  });

  connection.onopen = (newSession) => {
    if (closed) {
      leave(newSession, 'wamp.close.normal');
      return;
    }
    // Registrations and subscriptions die with the session: restore them on the new one.
    void (async () => {
      try {
        for (const [procedure, registration] of procedures)
          await registerOn(newSession, procedure, registration);
        for (const { topic, handler } of subscriptions) await subscribeOn(newSession, topic, handler);
      } catch (error) {
        log.error({ err: error }, 'restoring registrations after reconnect failed; reconnecting');
        // A session without its procedures would answer nothing: start over on a fresh one (onclose
        // reconnects, since autobahn will not after a leave).
        leave(newSession, 'wamp.close.restore_failed');
        return;
      }
      session = newSession;
      retryDelayMs = initialRetryDelayMs;
      log.info({ sessionId: newSession.id, procedures: procedures.size }, 'WAMP session open');
      const waiters = joinWaiters;
      joinWaiters = [];
      for (const resolve of waiters) resolve();
    })();
  };
  const initialRetryDelayMs = options.initialRetryDelayMs ?? 200;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
  let retryDelayMs = initialRetryDelayMs;
  let retryTimer: NodeJS.Timeout | undefined;
  connection.onclose = (reason, details) => {
    session = undefined;
    live.clear();
    if (closed) return true;
    log.warn({ reason, details, retryInMs: retryDelayMs }, 'WAMP connection closed; reconnecting');
    // Every end (lost connection, a refused authentication, a GOODBYE from the router, our own leave)
    // is retried here, with a growing delay; autobahn's own retry is switched off (return true), as it
    // gives up after any leave. open() must wait until autobahn has finished closing (a timer).
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closed) return;
      try {
        connection.open();
      } catch (error) {
        log.debug({ err: error }, 'reopening the WAMP connection');
      }
    }, retryDelayMs);
    retryDelayMs = Math.min(Math.ceil(retryDelayMs * 1.5), maxRetryDelayMs);
    return true;
  };

  const ready = (timeoutMs: number): Promise<void> => {
    if (session) return Promise.resolve();
    if (closed) return Promise.reject(unavailable('WAMP connection closed'));
    let resolveJoin: () => void = () => {};
    const joined = new Promise<void>((resolve) => {
      resolveJoin = resolve;
      joinWaiters.push(resolve);
    });
    return withTimeout(joined, timeoutMs, () => {
      joinWaiters = joinWaiters.filter((waiter) => waiter !== resolveJoin);
      return unavailable(`No WAMP session within ${timeoutMs} ms`);
    });
  };

  const makeEndpoint = <T extends TSchema>(
    procedure: string,
    schema: T,
    handler: ProcedureHandler<T>,
  ): AutobahnEndpoint => {
    const invoke = async (kwargs: Kwargs | undefined) => {
      const { [callMetaKey]: meta, ...args } = kwargs ?? {};
      const given = (meta as { correlationId?: unknown } | undefined)?.correlationId;
      const correlationId = validCorrelationId(given) ? given : randomUUID();
      // The callee's span continues the caller's (its traceparent travels in the call's metadata).
      const traced = {
        kind: SpanKind.SERVER,
        carrier: meta as Record<string, unknown> | undefined,
        correlationId,
        attributes: { 'rpc.system': 'wamp', 'rpc.method': procedure },
      };
      return inSpan(`wamp ${procedure}`, traced, () =>
        withCorrelationId(correlationId, async () => {
          // Made on first use: a child logger (with redaction set up) per call cost more than most calls.
          let childLog: Logger | undefined;
          const callLog = () => (childLog ??= log.child({ procedure, correlationId }));
          try {
            if (!Value.Check(schema, args)) {
              throw validationError(`Invalid arguments for ${procedure}`, {
                details: schemaProblems(schema, args),
              });
            }
            const result = await handler(args, {
              procedure,
              correlationId,
              get log() {
                return callLog();
              },
            });
            wampProcedureCalls.inc({ procedure, outcome: 'ok' });
            return new autobahn.Result([result ?? null]);
          } catch (thrown) {
            // PostgreSQL, RabbitMQ or the router unreachable: the caller may retry; not a bug.
            const error = isDependencyDown(thrown)
              ? unavailable('A dependency is unavailable; try again shortly', { cause: thrown })
              : thrown;
            const failed = !(error instanceof VecheError) || error.code === 'internal';
            wampProcedureCalls.inc({ procedure, outcome: failed ? 'failed' : 'refused' });
            if (failed) {
              callLog().error({ err: error }, 'procedure failed');
            } else {
              callLog().info({ code: error.code, message: error.message }, 'procedure refused');
            }
            const wire = toWampError(
              error instanceof VecheError ? error : new VecheError('internal', 'Internal error'),
            );
            // autobahn sends a rejection with an autobahn.Error as the WAMP ERROR's URI, args and kwargs.
            throw new autobahn.Error(wire.uri, wire.args, wire.kwargs) as unknown as Error;
          }
        }),
      );
    };
    return async (_args, kwargs) => {
      inFlight += 1;
      try {
        return await invoke(kwargs);
      } finally {
        inFlight -= 1;
      }
    };
  };

  const service: WampService = {
    get isConnected() {
      return session !== undefined;
    },

    ready: (timeoutMs = defaultTimeoutMs) => ready(timeoutMs),

    async register(procedure, argsSchema, handler, registerOptions = {}) {
      if (procedures.has(procedure)) throw new RangeError(`${procedure} is already registered`);
      const registration = {
        endpoint: makeEndpoint(procedure, argsSchema, handler),
        invoke: registerOptions.invoke ?? 'roundrobin',
      };
      procedures.set(procedure, registration);
      if (session) {
        try {
          await registerOn(session, procedure, registration);
        } catch (error) {
          procedures.delete(procedure);
          throw toVecheError(error, procedure);
        }
      }
      log.debug({ procedure }, 'procedure registered');
    },

    async call<Result>(
      procedure: string,
      kwargs: Kwargs = {},
      callOptions: CallOptions = {},
    ): Promise<Result> {
      const timeoutMs = callOptions.timeoutMs ?? defaultTimeoutMs;
      const deadline = Date.now() + timeoutMs;
      const calleeDeadline = Date.now() + (callOptions.calleeWaitMs ?? timeoutMs);
      const correlationId = callOptions.correlationId ?? currentCorrelationId() ?? randomUUID();
      const traced = {
        kind: SpanKind.CLIENT,
        correlationId,
        attributes: { 'rpc.system': 'wamp', 'rpc.method': procedure },
      };
      return inSpan(`wamp.call ${procedure}`, traced, async () => {
        const timedOut = () =>
          unavailable(`${procedure} timed out after ${timeoutMs} ms`, { details: { procedure } });
        await withTimeout(ready(timeoutMs), timeoutMs, timedOut).catch((error: unknown) => {
          throw error instanceof VecheError ? timedOut() : error;
        });
        // Nobody serving the procedure yet is normal for a moment after a router restart (callers may
        // reconnect before callees re-register): such a call reached no callee, so retrying is safe.
        for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
          const current = session;
          if (!current) throw timedOut();
          try {
            const result = await withTimeout(
              current.call(
                procedure,
                [...(callOptions.args ?? [])],
                callOptions.bare ? kwargs : { ...kwargs, [callMetaKey]: callMeta(correlationId) },
                { timeout: Math.max(1, deadline - Date.now()) },
              ),
              Math.max(1, deadline - Date.now()),
              timedOut,
            );
            return (isAutobahnResult(result) ? result.args[0] : result) as Result;
          } catch (error) {
            const noCallee = isAutobahnError(error) && error.error === 'wamp.error.no_such_procedure';
            const remaining = Math.min(deadline, calleeDeadline) - Date.now();
            if (!noCallee || remaining <= 20) throw toVecheError(error, procedure);
            await new Promise((resolve) => setTimeout(resolve, Math.min(pause, remaining - 10)));
            await withTimeout(
              ready(Math.max(1, deadline - Date.now())),
              Math.max(1, deadline - Date.now()),
              timedOut,
            );
          }
        }
      });
    },

    async publish(topic, payload, publishOptions = {}) {
      const timeoutMs = publishOptions.timeoutMs ?? defaultTimeoutMs;
      const timedOut = () => unavailable(`publish to ${topic} timed out after ${timeoutMs} ms`);
      await ready(timeoutMs);
      const current = session;
      if (!current) throw timedOut();
      try {
        const acknowledged = current.publish(topic, [], payload, {
          acknowledge: publishOptions.acknowledge === true,
        });
        recordWampPublication(topic);
        if (publishOptions.acknowledge && acknowledged) await withTimeout(acknowledged, timeoutMs, timedOut);
      } catch (error) {
        throw toVecheError(error, `publish to ${topic}`);
      }
    },

    async subscribe(topic, handler) {
      subscriptions.push({ topic, handler });
      if (session) {
        try {
          await subscribeOn(session, topic, handler);
        } catch (error) {
          subscriptions.splice(
            subscriptions.findIndex((s) => s.handler === handler && s.topic === topic),
            1,
          );
          throw toVecheError(error, `subscribe to ${topic}`);
        }
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      // A graceful exit: no new invocations (other replicas take them), the ones under way finish.
      const current = session;
      if (current) {
        const registrations = live.get(current) ?? [];
        await withTimeout(
          Promise.allSettled(registrations.map((r) => current.unregister(r))),
          2_000,
          () => new Error('unregister timed out'),
        ).catch((error: unknown) => log.debug({ err: error }, 'unregistering before close'));
        const drainDeadline = Date.now() + 5_000;
        while (inFlight > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 20));
      }
      const internals = connection as unknown as { transport: unknown; _autoreconnect_reset_timer(): void };
      // autobahn's close() leaves a pending reconnection timer running, which would open a new session.
      internals._autoreconnect_reset_timer();
      const hadTransport = internals.transport !== null;
      const closedNow = new Promise<void>((resolve) => {
        const previous = connection.onclose;
        connection.onclose = (reason, details) => {
          previous(reason, details);
          resolve();
          return true;
        };
      });
      try {
        connection.close();
        if (hadTransport) await withTimeout(closedNow, 2_000, () => new Error('close timed out'));
      } catch (error) {
        // autobahn throws when nothing is open (between retries): nothing more to close.
        log.debug({ err: error }, 'closing the WAMP connection');
      }
      for (const resolve of joinWaiters) resolve();
      joinWaiters = [];
      log.info('WAMP connection closed');
    },
  };

  connection.open();
  try {
    await ready(options.connectTimeoutMs ?? 30_000);
  } catch (error) {
    await service.close();
    throw error;
  }
  return service;
}
