/**
 * The local fleet's one origin, doing what nginx does in production: `/api` to the gateway, `/ws` to
 * the WAMP router, `/pubsub` to the presence-router, everything else to the web client. WebSocket
 * upgrades are piped byte for byte (all subprotocols and frames reach the upstream untouched, so the
 * router's own limits and checks apply), plain HTTP goes through @fastify/http-proxy.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import fastify, { type FastifyInstance } from 'fastify';
import httpProxy from '@fastify/http-proxy';
import fastifyStatic from '@fastify/static';

export interface Route {
  prefix: string;
  /** Who would serve it; named in the 503 while it is absent. */
  owner: string;
  /** The upstream's port on 127.0.0.1, or undefined when no such service exists yet. */
  port: number | undefined;
  websocket: boolean;
}

export interface ProxyOptions {
  host: string;
  port: number;
  routes: readonly Route[];
  webRoot: string;
  statusPage: () => unknown;
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
  const path = (url ?? '/').split('?')[0] ?? '/';
  return routes.find((r) => path === r.prefix || path.startsWith(r.prefix + '/'));
}

// Forwarding headers are set by the proxy alone; a client's own would let it claim any address.
const forwardingHeader = /^(x-forwarded-for|x-forwarded-proto|x-forwarded-host|x-real-ip|forwarded)$/i;

function forwardingHeaders(client: string): Record<string, string> {
  return { 'x-forwarded-for': client, 'x-real-ip': client, 'x-forwarded-proto': 'http' };
}

function proxyUpgrade(
  route: Route,
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
  if (route.port === undefined) return refuse('not part of this fleet yet');
  const upstream = net.connect({ host: '127.0.0.1', port: route.port });
  open.add(socket).add(upstream);
  socket.on('error', () => upstream.destroy());
  upstream.on('error', () => {
    if (!socket.writableEnded && upstream.bytesRead === 0) refuse('not reachable');
    else socket.destroy();
  });
  upstream.on('connect', () => {
    const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
    for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
      const name = request.rawHeaders[i] ?? '';
      if (forwardingHeader.test(name)) continue;
      lines.push(`${name}: ${request.rawHeaders[i + 1] ?? ''}`);
    }
    for (const [name, value] of Object.entries(forwardingHeaders(request.socket.remoteAddress ?? ''))) {
      lines.push(`${name}: ${value}`);
    }
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream).pipe(socket);
  });
  socket.on('close', () => {
    open.delete(socket);
    upstream.destroy();
  });
  upstream.on('close', () => {
    open.delete(upstream);
    socket.destroy();
  });
}

export async function startProxy(options: ProxyOptions): Promise<FastifyInstance> {
  const app = fastify({ logger: false, trustProxy: false });
  // Piped WebSockets are invisible to Fastify's close, which would wait for them forever.
  const openSockets = new Set<Duplex>();
  app.addHook('preClose', async () => {
    for (const socket of openSockets) socket.destroy();
  });

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node leaves an upgraded socket without an error listener: a client resetting the connection
    // must not take the whole fleet down.
    socket.on('error', () => socket.destroy());
    const route = matchRoute(options.routes, request.url);
    if (!route || !route.websocket) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    proxyUpgrade(route, request, socket, head, openSockets);
  });

  app.get('/_fleet/status', async () => options.statusPage());

  for (const route of options.routes) {
    if (route.port === undefined) {
      app.all(route.prefix, async (_request, reply) =>
        reply.code(503).type('application/json').send(unavailableBody(route, 'not part of this fleet yet')),
      );
      app.all(`${route.prefix}/*`, async (_request, reply) =>
        reply.code(503).type('application/json').send(unavailableBody(route, 'not part of this fleet yet')),
      );
      continue;
    }
    await app.register(httpProxy, {
      upstream: `http://127.0.0.1:${route.port}`,
      prefix: route.prefix,
      rewritePrefix: route.prefix,
      replyOptions: {
        rewriteRequestHeaders: (request, headers) => {
          const kept = Object.fromEntries(
            Object.entries(headers).filter(([name]) => !forwardingHeader.test(name)),
          );
          return { ...kept, ...forwardingHeaders(request.socket.remoteAddress ?? '') };
        },
        onError: (reply, { error }) => {
          // The cause (with internal addresses) goes to the terminal, not to the client.
          process.stderr.write(`[fleet] ${route.owner} not reachable: ${error.message}\n`);
          void reply.code(503).type('application/json').send(unavailableBody(route, 'not reachable'));
        },
      },
    });
  }

  if (existsSync(options.webRoot)) {
    await app.register(fastifyStatic, { root: options.webRoot, wildcard: false });
    // Single-page application: unknown paths get index.html, so client-side routes survive a reload.
    app.setNotFoundHandler(async (request, reply) => {
      if (request.method !== 'GET' || !(request.headers.accept ?? '').includes('text/html')) {
        return reply.code(404).send({ error: { code: 'not_found', message: 'Not found' } });
      }
      return reply.sendFile('index.html');
    });
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
