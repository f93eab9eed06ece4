/**
 * The `/pubsub` WebSocket endpoint (seed 002's protocol): authenticates the upgrade (401 and nothing
 * opened otherwise), registers the connection as live, and takes frames one at a time per connection:
 * activity, then the status (published with the authenticated user as publisher), then subscriptions
 * (each answered at once). A bad frame gets an error frame and the connection goes on; a flooding
 * client is told, then closed with {@link pubsubCloseCodes.rateLimited}.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { asVecheError, isVecheError } from '@veche/errors';
import type { Logger } from '@veche/log';
import { presenceConnections } from '@veche/metrics';
import { presenceOperationCodes } from '@veche/contracts';
import type { Statuses } from '../statuses.ts';
import { authenticateUpgrade, type PubsubAuthenticator, type PubsubIdentity } from './authenticate.ts';
import type { Fanout, Subscriber } from './fanout.ts';
import { encodeErrorFrame, parseClientFrame, type FrameLimits } from './frames.ts';
import { createFrameBudget } from './rate-limit.ts';

/** Close codes a `/pubsub` client may see (README, "Close codes"). */
export const pubsubCloseCodes = {
  /** The replica is stopping: reconnect (to another replica). */
  goingAway: 1001,
  /** Kept flooding after being told it was over its frame budget. */
  rateLimited: 1008,
  /** A frame above the hard size limit (frames above the soft limit only get an error frame). */
  tooBig: 1009,
  /** Did not read what it was sent (its queue passed the limit). */
  tooSlow: 1013,
  /** The account was disabled. */
  accountDisabled: 4403,
} as const;

export const pubsubPath = '/pubsub';

export interface PubsubServerOptions {
  log: Logger;
  authenticators: readonly PubsubAuthenticator[];
  fanout: Fanout;
  statuses: Statuses;
  replicaId: string;
  limits: FrameLimits & {
    /** Frames per second a connection may send, and the burst above it. */
    framesPerSecond: number;
    frameBurst: number;
    /** Subscriptions one connection may hold. */
    maxSubscriptions: number;
    /** Bytes queued for a client that does not read before it is closed. */
    maxBufferedBytes: number;
  };
  /** Ping interval; a connection that misses a pong in between is dropped (default 30 s). */
  heartbeatMs?: number;
}

export interface PubsubServer {
  /** For the HTTP server's `upgrade` event; answers 404 for any other path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  connectionCount(): number;
  /** Closes every connection with `goingAway` and waits for their clean-up. */
  close(): Promise<void>;
}

function refuse(socket: Duplex, status: 401 | 404 | 503, message: string, challenge?: string): void {
  const code = status === 401 ? 'unauthorized' : status === 404 ? 'not_found' : 'unavailable';
  const body = JSON.stringify({ error: { code, message } });
  const reason = status === 401 ? 'Unauthorized' : status === 404 ? 'Not Found' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      (challenge ? `WWW-Authenticate: ${challenge}\r\n` : '') +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

export function createPubsubServer(options: PubsubServerOptions): PubsubServer {
  const { fanout, statuses, limits } = options;
  const log = options.log.child({ component: 'pubsub' });
  // The hard cap closes (1009) only far above the soft limit, which gets an error frame.
  const hardMaxPayload = Math.max(limits.maxFrameBytes * 4, 1_048_576);
  const wss = new WebSocketServer({ noServer: true, maxPayload: hardMaxPayload, clientTracking: false });
  const connections = new Map<WebSocket, Promise<void>>();
  // Extra headers of a 101 answer (Negotiate's mutual-authentication token), by request.
  const upgradeHeaders = new WeakMap<IncomingMessage, Record<string, string>>();
  wss.on('headers', (headers, request) => {
    for (const [name, value] of Object.entries(upgradeHeaders.get(request) ?? {}))
      headers.push(`${name}: ${value}`);
  });
  const challenge = [...new Set(options.authenticators.map((a) => a.scheme))].join(', ');
  let closing = false;

  const heartbeat = setInterval(() => {
    for (const socket of connections.keys()) {
      const alive = socket as WebSocket & { veche_alive?: boolean };
      if (alive.veche_alive === false) {
        socket.terminate();
        continue;
      }
      alive.veche_alive = false;
      socket.ping();
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeat.unref();

  /**
   * `raw`: the connection's socket, as handed to `ws` on the upgrade. A frame shared by many subscribers
   * is written to it whole, in one write, instead of through `ws.send` (which frames it again for each
   * connection and writes header and payload as two corked writes, a `writev`): the fan-out's main cost
   * per subscriber. Safe beside `ws`'s own frames (answers, errors, pings, close): without
   * permessage-deflate (this server never negotiates it: `extensions` is empty) and without Blob data
   * (never sent here), `ws` writes each of its frames to the socket synchronously in one call, keeping
   * nothing queued, so frames cannot interleave and keep the order they were sent in; and only while
   * the WebSocket is OPEN, so nothing follows a close frame. `bufferedAmount` counts these bytes too
   * (the socket's own buffer is part of it).
   */
  function serve(socket: WebSocket, raw: Duplex, identity: PubsubIdentity): void {
    const writeWhole = socket.extensions === '';
    const connectionId = `pubsub:${options.replicaId}:${randomUUID()}`;
    const connLog = log.child({ userId: identity.userId, connectionId });
    const budget = createFrameBudget(limits.framesPerSecond, limits.frameBurst, Date.now());
    let queue: Promise<void> = Promise.resolve();
    let open = true;

    const subscriber: Subscriber = {
      viewer: identity.userId,
      send(frame) {
        if (!open) return;
        if (socket.bufferedAmount > limits.maxBufferedBytes) {
          connLog.warn({ buffered: socket.bufferedAmount }, 'client does not read; closing');
          socket.close(pubsubCloseCodes.tooSlow, 'not reading');
          open = false;
          return;
        }
        if (typeof frame === 'string') socket.send(frame);
        else if (writeWhole && socket.readyState === WebSocket.OPEN && raw.writable) raw.write(frame.wire);
        else socket.send(frame.payload, { binary: false });
      },
      close(code, reason) {
        if (!open) return;
        socket.close(code, reason);
      },
    };
    const sendError = (code: Parameters<typeof encodeErrorFrame>[0], message: string) =>
      subscriber.send(encodeErrorFrame(code, message));

    fanout.attach(subscriber);
    // Frames wait until the connection is registered as live, then run one at a time, in order.
    const registered = statuses.connectionOpened({
      connectionId,
      userId: identity.userId,
      kind: 'pubsub',
      replicaId: options.replicaId,
    });
    queue = registered.catch((error: unknown) => {
      connLog.error({ err: error }, 'registering the connection failed; closing');
      socket.close(1011, 'unavailable');
    });

    async function handleFrame(text: string, bytes: number): Promise<void> {
      const parsed = parseClientFrame(text, bytes, limits);
      if (!parsed.ok) {
        connLog.info({ problem: parsed.message, bytes }, 'bad frame');
        sendError('validation', parsed.message);
        return;
      }
      const { frame } = parsed;
      try {
        await statuses.activity(identity.userId);
        if (frame.status !== undefined) {
          await statuses.publish(identity.userId, frame.status, {
            by: identity.userId,
            ...(frame.timestamp === undefined ? {} : { timestamp: frame.timestamp }),
          });
        }
        const subscribe = frame.events.filter((e) => e.operation === presenceOperationCodes.SUBSCRIBE);
        const unsubscribe = frame.events.filter((e) => e.operation === presenceOperationCodes.UNSUBSCRIBE);
        fanout.unsubscribe(
          subscriber,
          unsubscribe.map((e) => e.address),
        );
        if (subscribe.length > 0) {
          if (fanout.subscriptionCount(subscriber) + subscribe.length > limits.maxSubscriptions) {
            sendError('validation', `A connection may hold at most ${limits.maxSubscriptions} subscriptions`);
            return;
          }
          await fanout.subscribe(
            subscriber,
            subscribe.map((e) => e.address),
          );
        }
      } catch (error) {
        const vecheError = asVecheError(error);
        if (vecheError.code === 'internal') connLog.error({ err: error }, 'frame failed');
        else connLog.warn({ code: vecheError.code, message: vecheError.message }, 'frame failed');
        sendError(
          isVecheError(error, 'unavailable') ? 'unavailable' : 'internal',
          vecheError.code === 'internal' ? 'Internal error' : vecheError.message,
        );
      }
    }

    socket.on('pong', () => {
      (socket as WebSocket & { veche_alive?: boolean }).veche_alive = true;
    });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const verdict = budget.take(Date.now());
      if (verdict === 'close') {
        connLog.warn('flooding after the rate-limit warning; closing');
        subscriber.close(pubsubCloseCodes.rateLimited, 'rate limit exceeded');
        open = false;
        return;
      }
      if (verdict !== 'accept') {
        if (verdict === 'drop-and-warn') {
          connLog.info('over the frame budget; dropping frames');
          sendError(
            'rate_limited',
            `At most ${limits.framesPerSecond} frames per second; frames are dropped`,
          );
        }
        return;
      }
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        queue = queue.then(() => sendError('validation', 'Send text frames of JSON'));
        return;
      }
      const text = buffer.toString('utf8');
      queue = queue.then(() => handleFrame(text, buffer.length));
    });
    socket.on('error', (error) => connLog.info({ err: error }, 'connection error'));

    const closed = new Promise<void>((resolve) => {
      socket.on('close', (code) => {
        open = false;
        fanout.detach(subscriber);
        connLog.info({ code }, 'connection closed');
        // After the frames under way, so a late SUBSCRIBE does not outlive its connection.
        void queue
          .then(() => {
            fanout.detach(subscriber);
            return registered;
          })
          .then(() => statuses.connectionClosed(connectionId))
          .catch((error: unknown) =>
            connLog.error({ err: error }, 'closing the connection’s presence failed'),
          )
          .finally(() => {
            connections.delete(socket);
            resolve();
          });
      });
    });
    connections.set(socket, closed);
    presenceConnections.inc({ transport: 'pubsub' });
    void closed.then(() => presenceConnections.dec({ transport: 'pubsub' }));
    connLog.info('connection open');
  }

  return {
    handleUpgrade(request, socket, head) {
      socket.on('error', () => socket.destroy());
      const url = new URL(request.url ?? '/', 'http://pubsub.invalid');
      if (url.pathname !== pubsubPath) {
        refuse(socket, 404, 'No WebSocket endpoint here');
        return;
      }
      if (closing) {
        refuse(socket, 503, 'The presence-router is stopping');
        return;
      }
      authenticateUpgrade(options.authenticators, { headers: request.headers, query: url.searchParams })
        .then((identity) => {
          if (closing || socket.destroyed) {
            socket.destroy();
            return;
          }
          if (identity.responseHeaders) upgradeHeaders.set(request, identity.responseHeaders);
          wss.handleUpgrade(request, socket, head, (ws) => serve(ws, socket, identity));
        })
        .catch((error: unknown) => {
          const vecheError = asVecheError(error);
          if (vecheError.code === 'unauthorized') {
            log.info({ reason: vecheError.message }, 'upgrade refused');
            refuse(socket, 401, 'Authentication required', challenge);
          } else {
            log.warn({ err: error }, 'upgrade failed');
            refuse(socket, 503, 'Authentication is unavailable; try again');
          }
        });
    },

    connectionCount: () => connections.size,

    async close() {
      closing = true;
      clearInterval(heartbeat);
      for (const socket of connections.keys()) socket.close(pubsubCloseCodes.goingAway, 'replica stopping');
      // A client that does not answer the close handshake is cut after a moment.
      const cut = setTimeout(() => {
        for (const socket of connections.keys()) socket.terminate();
      }, 2_000);
      await Promise.all(connections.values());
      clearTimeout(cut);
      wss.close();
    },
  };
}
