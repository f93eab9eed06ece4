/**
 * The RPC side of the gate, where it differs from fox-wamp's dealer: registrations follow the
 * invocation-policy rules (registrations.ts) and `force_reregister`, the `wamp.` namespace is the
 * router's own, a callee's error reaches its caller whole, and a stray YIELD is dropped.
 */
import type { Logger } from '@veche/log';
import { RealmError, type FoxContext, type FoxSession } from './fox-wamp.ts';
import type { RegistrationRules } from './registrations.ts';
import { wampMessage, type InvokePolicy } from './wamp-messages.ts';

/** Refuses a REGISTER in the `wamp.` namespace (before authorization); whether it did. */
export function refusedRestrictedRegistration(ctx: FoxContext, message: unknown[]): boolean {
  if (!(message[3] as string).startsWith('wamp.')) return false;
  // Crossbar keeps the `wamp.` namespace to its own (trusted) sessions, before authorization.
  ctx.wampSendError(wampMessage.REGISTER, message[1], 'wamp.error.invalid_uri', [
    `register for restricted procedure URI '${message[3] as string}'`,
  ]);
  return true;
}

/**
 * An authorized REGISTER: refused when the procedure's callees use another invocation policy (or
 * `single` is taken), unless `force_reregister` drops them; otherwise `forward` registers it.
 */
export function register(
  log: Logger,
  registrations: RegistrationRules,
  ctx: FoxContext,
  session: FoxSession,
  message: unknown[],
  /** The REGISTER's options as the client sent them (the sanitized ones keep no policy). */
  rawOptions: unknown,
  forward: () => void,
): void {
  const options = rawOptions as { invoke?: InvokePolicy; force_reregister?: boolean | null };
  const invoke = options.invoke ?? 'single';
  const force = options.force_reregister === true;
  const refusal = force ? undefined : registrations.refusal(message[3] as string, invoke);
  if (refusal) {
    log.info(
      { sessionId: session.sessionId, procedure: message[3], invoke, refusal },
      'registration refused',
    );
    ctx.wampSendError(wampMessage.REGISTER, message[1], refusal, [
      `register for already registered procedure '${message[3] as string}'`,
    ]);
    return;
  }
  if (force) {
    const evicted = registrations.evict(message[3] as string);
    if (evicted > 0)
      log.info(
        { sessionId: session.sessionId, procedure: message[3], evicted },
        'force_reregister: existing callees dropped',
      );
  }
  registrations.registering(invoke, forward);
}

/** Passes a callee's error URI, args and kwargs to the caller (fox-wamp drops all three). */
export function passCalleeError(ctx: FoxContext, session: FoxSession, message: unknown[]): void {
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

/**
 * Forwards a YIELD with the context's error answers silenced. A YIELD for no pending invocation (the
 * caller left, or an id the callee made up): fox-wamp answers an ERROR for message type YIELD whose
 * error is its internal number 103, not a URI, which no client understands. A router has nobody to
 * deliver it to: ignore it, as for an ERROR. (Found by fuzzing: test/fuzz.int.spec.ts.)
 */
export function forwardYield(ctx: FoxContext, forward: () => void): void {
  const own = Object.hasOwn(ctx, 'wampSendError');
  const send = ctx.wampSendError.bind(ctx);
  ctx.wampSendError = () => {};
  try {
    forward();
  } finally {
    if (own) ctx.wampSendError = send;
    else delete (ctx as Partial<FoxContext>).wampSendError;
  }
}
