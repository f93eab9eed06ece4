/**
 * The local/test WAMP router: fox-wamp's broker and dealer behind our own WebSocket transport, ticket
 * authentication and the shared authorization policy. Production uses Crossbar (ADR 0004).
 *
 * fox-wamp's own transport is replaced rather than configured: it has no `error` listener on sockets,
 * logs with console.log, and hands unchecked messages to the gate. Its gate is subclassed (gate.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '@veche/log';
import { createWampPolicy, vecheRealm } from '@veche/wamp-policy';
import type { Authenticator, RouterCalls } from './authenticators.ts';
import type { Authorizer } from './authorization.ts';
import { acceptConnection } from './connection.ts';
import { FoxRouterClass, type FoxRealm } from './fox-wamp.ts';
import { createGate } from './gate.ts';
import { installRegistrationRules } from './registrations.ts';
import { closeCodes, subprotocol } from './wamp-messages.ts';

export type { Authorizer } from './authorization.ts';

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

  const accept = (socket: WebSocket) =>
    acceptConnection(socket, { fox, gate, log, authTimeoutMs, maxBuffered });

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
