/**
 * What the router writes to a session: fox-wamp's context, but with args and kwargs verbatim (it
 * unwraps a single argument and wraps it again, which turns `[[1, 2]]` into `[1, 2]` and `[null]`
 * into `null`) and error URIs as given.
 */
import {
  WampSocketWriterContext,
  buildEventOpt,
  buildInvokeOpt,
  toWampArgs,
  wampErrorCode,
  type FoxCommand,
} from './fox-wamp.ts';
import { wampMessage } from './wamp-messages.ts';

function argsOf(data: unknown): unknown[] {
  if (typeof data === 'object' && data !== null && Array.isArray((data as { args?: unknown }).args)) {
    return (data as { args: unknown[] }).args;
  }
  return toWampArgs(data) ?? [];
}

export const kwargsOf = (hdr: unknown): Record<string, unknown> =>
  typeof hdr === 'object' && hdr !== null && !Array.isArray(hdr) ? (hdr as Record<string, unknown>) : {};

export class VecheContext extends WampSocketWriterContext {
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
