/**
 * The joined sessions, and the meta procedures that end them: `wamp.session.kill(session_id, reason?,
 * message?)`, `wamp.session.kill_by_authid(authid, reason?, message?)` and
 * `wamp.session.kill_by_authrole(authrole, reason?, message?)`, as Crossbar 21.3.1 offers them
 * (crossbar/router/service.py):
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
import type { Logger } from '@veche/log';
import type { FoxContext, FoxSession } from './fox-wamp.ts';
import type { SessionStates } from './session-states.ts';
import { kwargsOf } from './wamp-context.ts';
import { closeCodes, wampMessage } from './wamp-messages.ts';

const killProcedures = ['wamp.session.kill', 'wamp.session.kill_by_authid', 'wamp.session.kill_by_authrole'];
export const isKillProcedure = (uri: unknown): boolean => killProcedures.includes(uri as string);

export interface SessionKills {
  joined(session: FoxSession, ctx: FoxContext): void;
  /** The connection of `session` closed. */
  gone(session: FoxSession): void;
  /** Answers a CALL of one of the kill procedures. */
  callKill(ctx: FoxContext, caller: FoxSession, message: unknown[]): void;
}

export function createSessionKills(log: Logger, { stateOf }: SessionStates): SessionKills {
  /** Joined sessions and the context to write to each. */
  const joined = new Map<FoxSession, FoxContext>();

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

  const callKill = (ctx: FoxContext, caller: FoxSession, message: unknown[]) => {
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
      log.info({ sessionId: target, reason: goodbyeReason, by }, 'session killed');
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
    log.info({ [field]: target, killed: killed.length, reason: goodbyeReason, by }, 'sessions killed');
    ctx.wampSend([wampMessage.RESULT, requestId, {}, [killed]]);
    if (callerToo) kill(caller, ctx, goodbyeReason, text);
  };

  return {
    joined: (session, ctx) => joined.set(session, ctx),
    gone: (session) => joined.delete(session),
    callKill,
  };
}
