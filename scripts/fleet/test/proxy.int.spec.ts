/**
 * The fleet's origin in front of a real upstream built on the service kit: an upstream that answers
 * before reading a large body (413) is passed through (it used to become a 503), `Expect:
 * 100-continue` reaches the upstream, the web client is a single-page application with nginx's
 * security headers, and what the origin refuses itself comes in the one error shape.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { createLogger } from '@veche/log';
import { createServiceHttp } from '@veche/service';
import type { FastifyInstance } from 'fastify';
import { freePort } from '../processes.ts';
import { securityHeaders, startProxy } from '../proxy.ts';

const log = createLogger({ service: 'proxy-test', level: 'silent' });
const webRoot = mkdtempSync(path.join(os.tmpdir(), 'veche-web-'));
const indexHtml = '<!doctype html><html><body><div id="root"></div></body></html>';
let upstream: FastifyInstance;
let proxy: FastifyInstance;
let port: number;
const received: number[] = [];

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  continued: boolean;
}

/** A request as curl makes it: the body sent whole, or after "100 Continue" when `expect` is set. */
function send(
  method: string,
  urlPath: string,
  options: { body?: Buffer; headers?: Record<string, string>; expect?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body) headers['content-length'] = options.body.length;
    if (options.expect) headers['expect'] = '100-continue';
    const request = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers });
    let continued = false;
    request.on('continue', () => {
      continued = true;
      request.end(options.body);
    });
    request.on('response', (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body, continued }),
      );
    });
    // The origin may close while the rest of a body it refused is still being sent.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (!['EPIPE', 'ECONNRESET'].includes(error.code ?? '')) reject(error);
    });
    if (options.expect) request.flushHeaders();
    else request.end(options.body);
  });
}

function raw(request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(request));
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () =>
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0),
        body: data.split('\r\n\r\n').slice(1).join(''),
      }),
    );
  });
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

before(async () => {
  writeFileSync(path.join(webRoot, 'index.html'), indexHtml);
  writeFileSync(path.join(webRoot, 'app.js'), 'console.log(1)');
  upstream = await createServiceHttp({ log, readiness: {}, bodyLimit: 65_536 });
  upstream.post(
    '/api/auth/login',
    { schema: { body: Type.Object({ email: Type.String() }) } },
    async (request) => {
      received.push(Number(request.headers['content-length']));
      return { ok: true };
    },
  );
  upstream.get('/api/hello', async (_request, reply) =>
    reply.header('x-frame-options', 'SAMEORIGIN').send({ hi: 1 }),
  );
  upstream.post('/twin/echo', async (request) => ({ echoed: request.body }));
  await upstream.listen({ host: '127.0.0.1', port: 0 });
  const upstreamPort = (upstream.server.address() as net.AddressInfo).port;
  port = await freePort();
  // A replica that is down (nothing listens on its port), and one that serves.
  const downReplica = await freePort();
  proxy = await startProxy({
    host: '127.0.0.1',
    port,
    log,
    webRoot,
    statusPage: () => ({ ok: true }),
    readiness: { upstream: () => true },
    routes: [
      { prefix: '/api', owner: 'gateway', port: upstreamPort, websocket: false },
      { prefix: '/pubsub', owner: 'presence-router', port: undefined, websocket: true },
      { prefix: '/down', owner: 'nobody', port: await freePort(), websocket: false },
      { prefix: '/twin', owner: 'twin', port: downReplica, replicaPorts: [upstreamPort], websocket: false },
    ],
  });
});

after(async () => {
  await proxy?.close();
  await upstream?.close();
  rmSync(webRoot, { recursive: true, force: true });
});

describe('forwarding', () => {
  it('passes a 413 through when the upstream answers before reading a 5 MB body, every time', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 'a');
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const answer = await send('POST', '/api/auth/login', {
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(answer.status, 413, `attempt ${attempt}: ${answer.body}`);
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'validation');
    }
    // The origin keeps serving.
    const small = await send('POST', '/api/auth/login', {
      body: json({ email: 'a@example.org' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(small.status, 200, small.body);
  });

  it('lets the upstream decide an Expect: 100-continue before the body is sent', async () => {
    const refused = await send('POST', '/api/auth/login', {
      body: Buffer.alloc(2 * 1024 * 1024, 'b'),
      headers: { 'content-type': 'application/json' },
      expect: true,
    });
    assert.equal(refused.status, 413, refused.body);
    const accepted = await send('POST', '/api/auth/login', {
      body: json({ email: 'b@example.org' }),
      headers: { 'content-type': 'application/json' },
      expect: true,
    });
    assert.equal(accepted.status, 200, accepted.body);
    assert.equal(accepted.continued, true, 'the client got 100 Continue before sending its body');
  });

  it('answers a typed 503 for an upstream that is not running, and for a service not in the fleet', async () => {
    const down = await send('GET', '/down/anything');
    assert.equal(down.status, 503);
    assert.equal((JSON.parse(down.body) as { error: { code: string } }).error.code, 'unavailable');
    const absent = await send('GET', '/pubsub');
    assert.equal(absent.status, 503);
  });
});

describe('replicas', () => {
  it('passes over a replica that refuses the connection, body and all, every time', async () => {
    // Requests go to the replicas in turn: every other one starts at the replica that is down.
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const answer = await send('POST', '/twin/echo', {
        body: json({ attempt }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(answer.status, 200, `attempt ${attempt}: ${answer.body}`);
      assert.deepEqual(JSON.parse(answer.body), { echoed: { attempt } });
    }
  });
});

describe('the web client', () => {
  const page = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

  it('serves index.html for a page it does not have (a link from a mail), with nginx’s security headers', async () => {
    for (const link of ['/verify-email?token=abc123', '/reset-password?token=x', '/rooms/r1']) {
      const answer = await send('GET', link, { headers: page });
      assert.equal(answer.status, 200, link);
      assert.equal(answer.body, indexHtml);
      assert.match(String(answer.headers['content-type']), /text\/html/);
      for (const [name, value] of Object.entries(securityHeaders()))
        assert.equal(answer.headers[name], value, name);
    }
    const curl = await send('GET', '/verify-email?token=abc123', { headers: { accept: '*/*' } });
    assert.equal(curl.body, indexHtml, 'a client that accepts anything gets the page too');
    assert.equal((await send('GET', '/app.js', { headers: page })).body, 'console.log(1)');
  });

  it('has the same header list as nginx’s template', () => {
    const template = readFileSync(
      path.resolve(import.meta.dirname, '../../../nginx/templates/veche-security-headers.conf.template'),
      'utf8',
    );
    const names = Object.keys(securityHeaders());
    assert.equal(names.length, (template.match(/^add_header /gm) ?? []).length);
    assert.ok(names.includes('content-security-policy') && names.includes('x-frame-options'));
  });

  it('adds the security headers to proxied answers, keeping an upstream’s own value', async () => {
    const answer = await send('GET', '/api/hello');
    assert.equal(answer.headers['x-frame-options'], 'SAMEORIGIN');
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  });

  it('keeps the JSON 404 for what is not a page', async () => {
    for (const [method, link, headers] of [
      ['GET', '/nothing-here', { accept: 'application/json' }],
      ['POST', '/verify-email', page],
      ['GET', '/assets/missing.js', page],
    ] as const) {
      const answer = await send(method, link, { headers });
      assert.equal(answer.status, 404, `${method} ${link}`);
      assert.deepEqual(JSON.parse(answer.body), {
        error: { code: 'not_found', message: 'No such route', details: { reason: 'no_route' } },
      });
    }
  });
});

describe('the origin’s own refusals', () => {
  const marker = 'ECHO-MARKER-3c1d';
  it('answers huge headers, long URLs, bad requests and bad upgrades in the one shape, echoing nothing', async () => {
    const cases: [string, string, number][] = [
      ['huge headers', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${marker}${'h'.repeat(20_000)}\r\n\r\n`, 431],
      [
        'a long URL',
        `GET /?${marker}=${'u'.repeat(9_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        414,
      ],
      ['a malformed request', `GET /${marker} HTTP/9\r\n\r\n`, 400],
      [
        'an upgrade nobody serves',
        `GET /${marker} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
        404,
      ],
    ];
    for (const [name, request, status] of cases) {
      const answer = await raw(request);
      assert.equal(answer.status, status, name);
      const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
      assert.equal(typeof body.error.code, 'string', name);
      assert.ok(!answer.body.includes(marker), `${name}: nothing echoed`);
    }
  });

  it('reports its processes at /_fleet/ready', async () => {
    const answer = await send('GET', '/_fleet/ready');
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { status: 'ready', checks: { upstream: true } });
  });
});
