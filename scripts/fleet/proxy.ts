/**
 * The local fleet's one origin, doing what nginx does in production: `/api` to the gateway, `/ws` to
 * the WAMP router, `/pubsub` to the presence-router, everything else to the web client (a single-page
 * application: a page it does not have gets index.html), with the security headers of nginx's own
 * template. It runs on the service kit, so its own answers (unknown paths, oversize headers, bad
 * URLs) have the one error shape too.
 *
 * Forwarding is written here rather than taken from @fastify/http-proxy: its undici client fails a
 * request whose upstream answers before reading the whole body (a 413 to an oversize body, a 401 to
 * an upload), and the answer became a 503. Node's HTTP client reads that answer, and an
 * `Expect: 100-continue` is passed on so the upstream decides before the body is sent, as nginx does.
 * WebSocket upgrades are piped byte for byte (the router's own limits and checks apply).
 */
import { existsSync, readFileSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import fastifyStatic from '@fastify/static';
import type { Logger } from '@veche/log';
import { createServiceHttp, type ReadinessChecks } from '@veche/service';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { registerFleetMetrics } from './metrics.ts';

export interface Route {
  prefix: string;
  /** Who would serve it; named in the 503 while it is absent. */
  owner: string;
  /** The upstream's port on 127.0.0.1, or undefined when no such service exists yet. */
  port: number | undefined;
  /**
   * The ports of the owner's other replicas (VECHE_REPLICAS): requests and upgrades go to the
   * replicas in turn and pass over one that refuses the connection, as the stack's service address
   * does, so one replica killed leaves the route served.
   */
  replicaPorts?: readonly number[];
  websocket: boolean;
}

export interface ProxyOptions {
  host: string;
  port: number;
  routes: readonly Route[];
  webRoot: string;
  statusPage: () => unknown;
  log: Logger;
  /** What `/_fleet/ready` checks (every process running). */
  readiness?: ReadinessChecks;
  /** The services whose /metrics the origin serves at /_fleet/metrics/<name>: name → port. */
  metricsTargets?: () => ReadonlyMap<string, number>;
  /** Whether the replica on this port is ready; one that is not is tried after those that are. */
  upstreamReady?: (port: number) => boolean;
}

const root = path.resolve(import.meta.dirname, '../..');

/**
 * The headers nginx adds to every answer in production, read from its own template so the two
 * never differ: `add_header Name "value" always;`.
 */
export function securityHeaders(
  template = path.join(root, 'nginx/templates/veche-security-headers.conf.template'),
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const match of readFileSync(template, 'utf8').matchAll(/^\s*add_header\s+([\w-]+)\s+"([^"]*)"/gm)) {
    headers[match[1]!.toLowerCase()] = match[2]!;
  }
  return headers;
}

const unavailableBody = (route: Pick<Route, 'prefix' | 'owner'>, why: string) =>
  JSON.stringify({
    error: {
      code: 'unavailable',
      message: `${route.owner} (${route.prefix}) is ${why}`,
      details: { prefix: route.prefix },
    },
  });

function matchRoute(routes: readonly Route[], url: string | undefined): Route | undefined {
  const pathname = (url ?? '/').split('?')[0] ?? '/';
  return routes.find((r) => pathname === r.prefix || pathname.startsWith(r.prefix + '/'));
}

// Forwarding headers are set by the proxy alone; a client's own would let it claim any address.
const forwardingHeader = /^(x-forwarded-for|x-forwarded-proto|x-forwarded-host|x-real-ip|forwarded)$/i;
// Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the message.
const hopByHop =
  /^(connection|keep-alive|proxy-connection|proxy-authenticate|proxy-authorization|te|trailer|upgrade)$/i;

function forwardingHeaders(client: string): Record<string, string> {
  return { 'x-forwarded-for': client, 'x-real-ip': client, 'x-forwarded-proto': 'http' };
}

/** The request's headers as the upstream gets them. */
function upstreamHeaders(request: IncomingMessage, keepExpect: boolean): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || hopByHop.test(name) || forwardingHeader.test(name)) continue;
    if (name === 'expect' && !keepExpect) continue;
    headers[name] = value;
  }
  return { ...headers, ...forwardingHeaders(request.socket.remoteAddress ?? '') };
}

/**
 * A connection to an upstream that keeps reading after its writes fail. An upstream that answers
 * before it has read the whole request body (a 413 to an oversize body) closes the connection, and
 * the proxy's next write fails (EPIPE, ECONNRESET) while the answer still waits to be read: Node
 * would destroy the socket on that write error and lose the answer (nodejs/node#54366). Here such a
 * write failure only stops the writing; the answer is read and passed on, or, when none comes, the
 * read side fails the request as before.
 */
class AnswerKeepingSocket extends net.Socket {
  private writesFailed = false;

  private settle(callback: (error?: Error | null) => void) {
    return (error?: Error | null) => {
      if (error && ['EPIPE', 'ECONNRESET'].includes((error as NodeJS.ErrnoException).code ?? '')) {
        this.writesFailed = true;
        callback();
      } else callback(error);
    };
  }

  override _write(chunk: unknown, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.writesFailed) return callback();
    super._write(chunk, encoding, this.settle(callback));
  }

  override _writev(
    chunks: { chunk: unknown; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    if (this.writesFailed) return callback();
    super._writev?.(chunks, this.settle(callback));
  }
}

/**
 * Connects to the first of `ports` that accepts, in order; `failed` gets the last refusal. Connecting
 * comes before anything of the request is read, so a refused replica costs nothing but the attempt.
 */
function connectFirst(
  ports: readonly number[],
  connected: (socket: AnswerKeepingSocket) => void,
  failed: (error: Error) => void,
): void {
  const [port, ...rest] = ports;
  if (port === undefined) return failed(new Error('no upstream port'));
  const socket = new AnswerKeepingSocket();
  const refused = (error: Error) => {
    socket.destroy();
    if (rest.length > 0) connectFirst(rest, connected, failed);
    else failed(error);
  };
  socket.once('error', refused);
  socket.connect(port, '127.0.0.1', () => {
    socket.off('error', refused);
    connected(socket);
  });
}

/** The order in which a request tries a route's replicas: the next one in turn first, ready ones before the others. */
function upstreamOrder(
  route: Route & { port: number },
  turn: number,
  ready: (port: number) => boolean,
): number[] {
  const ports = [route.port, ...(route.replicaPorts ?? [])];
  const rotated = ports.map((_, i) => ports[(turn + i) % ports.length]!);
  return [...rotated.filter((p) => ready(p)), ...rotated.filter((p) => !ready(p))];
}

/**
 * One HTTP request to its upstream and the upstream's answer back, whatever the upstream answers
 * and whenever it does: an answer that comes before the request body is complete is passed on (the
 * rest of the body is then not sent, and the client's connection is closed after the answer).
 * With `expectContinue`, the client's `Expect: 100-continue` goes upstream, and the client gets
 * "100 Continue" only when the upstream says so.
 */
function forwardHttp(
  route: Route,
  ports: readonly number[],
  request: IncomingMessage,
  response: ServerResponse,
  log: Logger,
  extraHeaders: Record<string, string>,
  expectContinue = false,
): void {
  const unreachable = (error: Error) => {
    log.warn({ err: error, owner: route.owner }, 'upstream not reachable');
    if (response.headersSent) {
      response.destroy();
      return;
    }
    response.writeHead(503, { ...extraHeaders, 'content-type': 'application/json', connection: 'close' });
    response.end(unavailableBody(route, 'not reachable'));
    request.resume();
  };
  connectFirst(
    ports,
    (socket) => {
      // The client gave up while the upstream was being reached.
      if (response.destroyed) {
        socket.destroy();
        return;
      }
      exchange(socket);
    },
    unreachable,
  );

  function exchange(socket: AnswerKeepingSocket): void {
    const upstream = http.request({
      method: request.method,
      path: request.url,
      headers: upstreamHeaders(request, expectContinue),
      createConnection: () => socket,
    });
    let answered = false;
    const sendBody = () => request.pipe(upstream);

    upstream.on('response', (answer) => {
      answered = true;
      const headers: OutgoingHttpHeaders = { ...extraHeaders };
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && !hopByHop.test(name) && name !== 'transfer-encoding')
          headers[name] = value;
      }
      const bodyUnread = !request.complete;
      if (bodyUnread) {
        // The upstream answered without the rest of the body: stop sending it, read and drop what the
        // client still sends, and close the connection after the answer.
        request.unpipe(upstream);
        request.resume();
        headers['connection'] = 'close';
      }
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, headers);
      answer.pipe(response);
      answer.on('error', () => response.destroy());
    });
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      // Sending the body failed because the upstream answered and closed: its answer is on its way.
      if (answered) return;
      unreachable(error);
    });
    // The client gave up: so does the upstream request.
    response.on('close', () => {
      if (!response.writableFinished) upstream.destroy();
    });

    if (expectContinue) {
      upstream.on('continue', () => {
        response.writeContinue();
        sendBody();
      });
      upstream.flushHeaders();
    } else {
      sendBody();
    }
  }
}

function proxyUpgrade(
  route: Route,
  ports: readonly number[],
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  open: Set<Duplex>,
): void {
  const refuse = (why: string) => {
    const body = unavailableBody(route, why);
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  };
  if (ports.length === 0) return refuse('not part of this fleet yet');
  open.add(socket);
  let upstream: net.Socket | undefined;
  socket.on('error', () => upstream?.destroy());
  socket.on('close', () => {
    open.delete(socket);
    upstream?.destroy();
  });
  connectFirst(
    ports,
    (connected) => {
      upstream = connected;
      if (socket.destroyed) {
        connected.destroy();
        return;
      }
      open.add(connected);
      connected.on('error', () => socket.destroy());
      connected.on('close', () => {
        open.delete(connected);
        socket.destroy();
      });
      const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
      for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
        const name = request.rawHeaders[i] ?? '';
        if (forwardingHeader.test(name)) continue;
        lines.push(`${name}: ${request.rawHeaders[i + 1] ?? ''}`);
      }
      for (const [name, value] of Object.entries(forwardingHeaders(request.socket.remoteAddress ?? ''))) {
        lines.push(`${name}: ${value}`);
      }
      connected.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length > 0) connected.write(head);
      socket.pipe(connected).pipe(socket);
    },
    () => {
      if (!socket.writableEnded && !socket.destroyed) refuse('not reachable');
    },
  );
}

const notFoundBody = JSON.stringify({
  error: { code: 'not_found', message: 'No such route', details: { reason: 'no_route' } },
});

export async function startProxy(options: ProxyOptions): Promise<FastifyInstance> {
  const { log } = options;
  const headers = securityHeaders();
  const hasWebClient = existsSync(options.webRoot);
  const app = await createServiceHttp({
    log,
    readiness: options.readiness ?? {},
    probePrefix: '/_fleet',
    // A single-page application, as nginx's `try_files $uri /index.html`: a page it does not have (a
    // link from a mail, a reload on a client-side route) gets index.html. Requests that do not ask
    // for a page (other methods, assets, clients that accept no HTML) keep the JSON 404.
    ...(hasWebClient
      ? {
          notFound: (request: FastifyRequest, reply: FastifyReply) => {
            const wantsPage =
              (request.method === 'GET' || request.method === 'HEAD') &&
              /\btext\/html\b|\*\/\*/.test(request.headers.accept ?? '') &&
              !request.url.startsWith('/assets/');
            if (!wantsPage) return reply.code(404).type('application/json').send(notFoundBody);
            return reply.header('cache-control', 'no-cache').sendFile('index.html');
          },
        }
      : {}),
  });
  // nginx adds them to every answer; here every answer the proxy makes or passes on gets them
  // (an upstream's own value of one of them wins).
  app.addHook('onSend', async (_request, reply) => {
    for (const [name, value] of Object.entries(headers))
      if (!reply.hasHeader(name)) reply.header(name, value);
  });
  // Piped WebSockets are invisible to Fastify's close, which would wait for them forever.
  const openSockets = new Set<Duplex>();
  app.addHook('preClose', async () => {
    for (const socket of openSockets) socket.destroy();
  });
  // Each request to a route starts at the next replica in turn.
  const turns = new Map<string, number>();
  const upstreamReady = options.upstreamReady ?? (() => true);
  const portsFor = (route: Route): number[] => {
    if (route.port === undefined) return [];
    const turn = turns.get(route.prefix) ?? 0;
    turns.set(route.prefix, turn + 1);
    return upstreamOrder({ ...route, port: route.port }, turn, upstreamReady);
  };

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node leaves an upgraded socket without an error listener: a client resetting the connection
    // must not take the whole fleet down.
    socket.on('error', () => socket.destroy());
    const route = matchRoute(options.routes, request.url);
    if (!route || !route.websocket) {
      socket.end(
        `HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(notFoundBody)}\r\n\r\n${notFoundBody}`,
      );
      return;
    }
    proxyUpgrade(route, portsFor(route), request, socket, head, openSockets);
  });

  // `Expect: 100-continue`: a proxied request is forwarded at once and the upstream decides; anything
  // else continues as Node would by itself.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const route = matchRoute(options.routes, request.url);
    if (route?.port !== undefined && !route.websocket) {
      forwardHttp(route, portsFor(route), request, response, log, headers, true);
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });

  app.get('/_fleet/status', async () => options.statusPage());
  registerFleetMetrics(app, options.metricsTargets ?? (() => new Map()));

  for (const route of options.routes) {
    if (route.port === undefined) {
      const absent = async (_request: FastifyRequest, reply: FastifyReply) =>
        reply.code(503).type('application/json').send(unavailableBody(route, 'not part of this fleet yet'));
      app.all(route.prefix, absent);
      app.all(`${route.prefix}/*`, absent);
      continue;
    }
    if (route.websocket) continue;
    await app.register(async (scope) => {
      // The body goes upstream as it arrives: nothing here reads or limits it.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const forward = async (request: FastifyRequest, reply: FastifyReply) => {
        reply.hijack();
        forwardHttp(route, portsFor(route), request.raw, reply.raw, log, headers);
      };
      scope.all(route.prefix, forward);
      scope.all(`${route.prefix}/*`, forward);
    });
  }

  if (hasWebClient) {
    await app.register(fastifyStatic, { root: options.webRoot, wildcard: false });
  } else {
    app.get('/', async (_request, reply) => reply.type('text/html').send(devPage(options.routes)));
  }

  await app.listen({ host: options.host, port: options.port });
  return app;
}

function devPage(routes: readonly Route[]): string {
  const rows = routes
    .map(
      (r) =>
        `<tr><td><code>${r.prefix}</code></td><td>${r.owner}</td><td>${r.port === undefined ? 'not in this fleet yet' : r.websocket ? 'WebSocket' : 'HTTP'}</td></tr>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Veche local fleet</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1d2330}
table{border-collapse:collapse;width:100%}td{border-bottom:1px solid #dde;padding:.4rem .6rem}code{background:#f1f3f8;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Veche local fleet</h1><p>The web client is not built in this checkout (<code>clients/web</code>), so this page lists what this origin serves.
Live process state: <a href="/_fleet/status">/_fleet/status</a>.</p><table>${rows}</table></body></html>`;
}
