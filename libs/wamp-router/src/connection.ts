/**
 * One WebSocket connection as a router session: its messages parsed and handed to the gate, its
 * writes corked per tick and dropped for a client that does not read, and a connection that never
 * says HELLO closed.
 */
import type { Logger } from '@veche/log';
import { WebSocket, type RawData } from 'ws';
import type { FoxRouter, FoxSocketWriter } from './fox-wamp.ts';
import type { Gate } from './gate.ts';
import { closeCodes, subprotocol } from './wamp-messages.ts';

export interface ConnectionDependencies {
  fox: FoxRouter;
  gate: Gate;
  log: Logger;
  /** How long a client may take from connecting to HELLO. */
  authTimeoutMs: number;
  /** Most bytes queued for a client that does not read before it is dropped. */
  maxBuffered: number;
}

export function acceptConnection(socket: WebSocket, deps: ConnectionDependencies): void {
  const { fox, gate, log, authTimeoutMs, maxBuffered } = deps;
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
}
