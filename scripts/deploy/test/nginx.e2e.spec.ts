/**
 * Debian's real nginx, configured by the production templates and renderer, in front of the real local
 * fleet (scripts/fleet/main.ts) with the temporary self-signed certificate the container starts with:
 * HTTP/2 over TLS, WAMP through /ws, /api, the /pubsub upgrade, static files with the SPA fallback and
 * caching headers, the redirect from plain HTTP, the ACME challenge path, typed errors from nginx.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { curl } from '@veche/testing';
import { freePort } from '../../fleet/processes.ts';
import { nginxSite, requireCommands, root, run, writeFile, type NginxSite } from './support/system.ts';

const secret = 'nginx-test-secret-' + Math.random().toString(36).slice(2);

interface Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function h2request(
  session: http2.ClientHttp2Session,
  pathname: string,
  headers: http2.OutgoingHttpHeaders = {},
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': pathname, ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      resolve({
        status: Number(responseHeaders[':status']),
        headers: responseHeaders,
        body: Buffer.concat(chunks),
      }),
    );
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

function plainGet(
  port: number,
  pathname: string,
  { address = '127.0.0.1', host = 'localhost' } = {},
): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: address, port, path: pathname, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.location ? { location: res.headers.location } : {}),
            body,
          }),
        );
      })
      .on('error', reject);
  });
}

/** An HTTP/1.1 upgrade request over TLS; resolves with the status line and headers nginx sent back. */
function upgradeOverTls(port: number, ca: Buffer, pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] },
      () => {
        socket.write(
          `GET ${pathname} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
      },
    );
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(head);
      }
    });
    socket.on('error', reject);
    socket.setTimeout(10_000, () => reject(new Error('no answer to the upgrade')));
  });
}

describe('nginx in front of the local fleet', () => {
  let fleet: ChildProcess;
  let fleetOutput = '';
  let site: NginxSite;
  let ca: Buffer;
  let session: http2.ClientHttp2Session;
  let fleetRoutes: { prefix: string; port: number | undefined }[] = [];
  // Stands in for the visualizer: answers with the request headers nginx sent it.
  let echo: http.Server;
  let fleetPort: number;

  before(async () => {
    requireCommands('nginx', 'openssl', 'envsubst');
    fleetPort = await freePort();
    const databaseUrl = new URL(
      process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    );
    databaseUrl.pathname = '/veche_nginx_test';
    fleet = spawn(process.execPath, [path.join(root, 'scripts/fleet/main.ts')], {
      cwd: root,
      env: {
        ...process.env,
        VECHE_PORT: String(fleetPort),
        DATABASE_URL: databaseUrl.toString(),
        VECHE_SERVICE_SECRET: secret,
        // The upload test signs up without reading its verification mail.
        REQUIRE_VERIFIED_EMAIL: 'false',
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    fleet.stdout?.on('data', (c: Buffer) => (fleetOutput += c.toString()));
    fleet.stderr?.on('data', (c: Buffer) => (fleetOutput += c.toString()));
    const deadline = Date.now() + 90_000;
    while (!fleetOutput.includes('Veche is running at')) {
      if (
        fleetOutput.includes('[fleet] could not start') ||
        fleet.exitCode !== null ||
        Date.now() > deadline
      ) {
        throw new Error(`the fleet did not start; its output:\n${fleetOutput.slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const status = (await (await fetch(`http://127.0.0.1:${fleetPort}/_fleet/status`)).json()) as {
      routes: { prefix: string; port: number | undefined }[];
    };
    fleetRoutes = status.routes;

    echo = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    const echoPort = (echo.address() as { port: number }).port;
    const fleetAddress = `127.0.0.1:${fleetPort}`;
    site = nginxSite({
      httpPort: await freePort(),
      httpsPort: await freePort(),
      // As in stack.yml: the chat's 25 MB uploads fit.
      uploadMax: '26m',
      // The fleet is one origin: every upstream is it, but the visualizer's (the echo server).
      upstreams: {
        api: fleetAddress,
        ws: fleetAddress,
        pubsub: fleetAddress,
        visualizer: `127.0.0.1:${echoPort}`,
      },
    });
    writeFile(
      path.join(site.webRoot, 'index.html'),
      '<!doctype html><title>Veche</title><div id="app"></div>',
    );
    writeFile(
      path.join(site.webRoot, 'assets/app.3f9a1c2e.js'),
      `console.log(${JSON.stringify('x'.repeat(4000))});\n`,
    );
    // An operator "admin" with password "s3cret" (apr1 hash, as `htpasswd` or `openssl passwd -apr1` make).
    const hash = run('openssl', ['passwd', '-apr1', 's3cret']).stdout.trim();
    writeFile(site.env['VECHE_VISUALIZER_HTPASSWD']!, `admin:${hash}\n`);
    await site.start();
    ca = readFileSync(path.join(site.tlsDir, 'fullchain.pem'));
    session = http2.connect(`https://localhost:${site.httpsPort}`, { ca });
    session.on('error', () => {});
  });

  after(async () => {
    echo?.close();
    session?.close();
    await site?.stop();
    if (fleet && fleet.exitCode === null) {
      process.kill(-fleet.pid!, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      if (fleet.exitCode === null) process.kill(-fleet.pid!, 'SIGKILL');
    }
  });

  it('accepts the rendered configuration with nginx -t', () => {
    const result = run('nginx', ['-t', '-c', path.join(site.confDir, 'nginx.conf')]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /test is successful/);
  });

  it('serves HTTP/2 over TLS 1.2+ with the security headers', async () => {
    const reply = await h2request(session, '/');
    assert.equal(reply.status, 200);
    assert.equal(session.alpnProtocol, 'h2');
    const socket = session.socket as tls.TLSSocket;
    assert.match(socket.getProtocol() ?? '', /^TLSv1\.[23]$/);
    assert.match(reply.body.toString(), /<title>Veche<\/title>/);
    assert.match(String(reply.headers['strict-transport-security']), /max-age=\d+/);
    assert.equal(reply.headers['x-content-type-options'], 'nosniff');
    assert.equal(reply.headers['x-frame-options'], 'DENY');
    assert.match(String(reply.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(reply.headers['cache-control'], 'no-cache');
    assert.equal(reply.headers['server'], 'nginx', 'no version in the Server header');
  });

  it('refuses TLS 1.1', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect(
        {
          host: '127.0.0.1',
          port: site.httpsPort,
          servername: 'localhost',
          ca,
          minVersion: 'TLSv1.1',
          maxVersion: 'TLSv1.1',
        },
        () => resolve('connected'),
      );
      socket.on('error', (error: Error) => resolve(error.message));
    });
    assert.notEqual(outcome, 'connected');
  });

  it('serves a static file with a year of caching for hashed assets, gzipped on request', async () => {
    const reply = await h2request(session, '/assets/app.3f9a1c2e.js', { 'accept-encoding': 'gzip' });
    assert.equal(reply.status, 200);
    assert.match(String(reply.headers['content-type']), /javascript/);
    assert.equal(reply.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(reply.headers['content-encoding'], 'gzip');
    assert.match(zlib.gunzipSync(reply.body).toString(), /^console\.log/);
    assert.equal(reply.headers['x-content-type-options'], 'nosniff', 'security headers on assets too');
    const missing = await h2request(session, '/assets/gone.0000000.js');
    assert.equal(missing.status, 404);
  });

  it('falls back to index.html for client-side routes (single-page application)', async () => {
    const reply = await h2request(session, '/rooms/some-room');
    assert.equal(reply.status, 200);
    assert.match(reply.body.toString(), /<div id="app">/);
  });

  it('proxies /api to the gateway (a typed 503 from the fleet while the gateway is absent)', async () => {
    const reply = await h2request(session, '/api/health');
    const gateway = fleetRoutes.find((r) => r.prefix === '/api');
    assert.match(String(reply.headers['content-type']), /application\/json/);
    if (gateway?.port !== undefined) {
      assert.equal(reply.status, 200, reply.body.toString());
    } else {
      assert.equal(reply.status, 503);
      assert.equal(
        (JSON.parse(reply.body.toString()) as { error: { code: string } }).error.code,
        'unavailable',
      );
    }
  });

  it('answers a typed 413 for a body over the upload limit, before the body travels', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'veche-nginx-upload-'));
    try {
      const file = path.join(dir, 'too-big.bin');
      writeFileSync(file, Buffer.alloc(27 * 1024 * 1024));
      const reply = await curl(`https://localhost:${site.httpsPort}/api/rooms/r/attachments`, {
        form: [`file=@${file}`],
        cacert: path.join(site.tlsDir, 'fullchain.pem'),
        http1: true,
      });
      assert.equal(reply.status, 413);
      assert.ok(reply.sentExpect && !reply.gotContinue, 'refused on its declared length');
      const body = JSON.parse(reply.body) as { error: { code: string; details: { limit: string } } };
      assert.equal(body.error.code, 'payload_too_large');
      assert.equal(body.error.details.limit, '26m');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries uploads with curl’s defaults (Expect: 100-continue) at 500 KB, 2 MB and 25 MB through nginx and through the fleet alone', async () => {
    const json = (method: string, pathname: string, payload: unknown, token?: string) =>
      h2request(
        session,
        pathname,
        {
          ':method': method,
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        Buffer.from(JSON.stringify(payload)),
      );
    const email = `uploader-${Date.now()}@example.test`;
    const password = 'correct horse battery staple';
    const registered = await json('POST', '/api/auth/register', { email, password, displayName: 'Uploader' });
    assert.equal(registered.status, 201, registered.body.toString());
    const login = await json('POST', '/api/auth/login', { email, password });
    const { accessToken } = JSON.parse(login.body.toString()) as { accessToken: string };
    const room = await json('POST', '/api/rooms', { name: 'Uploads', visibility: 'private' }, accessToken);
    assert.equal(room.status, 201, room.body.toString());
    const { roomId } = JSON.parse(room.body.toString()) as { roomId: string };

    const ways = [
      { name: 'nginx, HTTP/1.1', base: `https://localhost:${site.httpsPort}`, http1: true },
      { name: 'nginx, HTTP/2', base: `https://localhost:${site.httpsPort}`, http1: false },
      { name: 'the fleet alone', base: `http://127.0.0.1:${fleetPort}`, http1: true },
    ];
    const dir = mkdtempSync(path.join(tmpdir(), 'veche-nginx-upload-'));
    try {
      for (const bytes of [500_000, 2_000_000, 25_000_000]) {
        const file = path.join(dir, `${bytes}.bin`);
        writeFileSync(file, randomBytes(bytes));
        for (const way of ways) {
          const reply = await curl(`${way.base}/api/rooms/${roomId}/attachments`, {
            form: [`file=@${file};type=application/zip`],
            headers: { authorization: `Bearer ${accessToken}` },
            cacert: path.join(site.tlsDir, 'fullchain.pem'),
            http1: way.http1,
          });
          const what = `${bytes} bytes through ${way.name}`;
          assert.equal(reply.status, 201, `${what}: ${reply.body}\n${reply.trace}`);
          assert.equal((JSON.parse(reply.body) as { size: number }).size, bytes, what);
          if (way.http1 && bytes > 1_048_576) {
            assert.ok(reply.sentExpect, `${what}: curl sent Expect: 100-continue`);
            assert.ok(reply.gotContinue, `${what}: answered 100 Continue`);
          }
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries a WAMP session through /ws (wss, WebSocket upgrade) to the router', () => {
    const result = spawnSync(
      process.execPath,
      [
        path.join(import.meta.dirname, 'support/wamp-probe.ts'),
        `wss://localhost:${site.httpsPort}/ws`,
        secret,
      ],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(site.tlsDir, 'fullchain.pem') },
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual(JSON.parse(line), { received: { through: 'nginx' } });
  });

  it('routes /pubsub to the presence-router: 401 without a token, seed 002 frames over wss with one', async () => {
    // The presence-router's own typed refusal (not nginx's 503 for an absent upstream).
    const refused = await upgradeOverTls(site.httpsPort, ca, '/pubsub');
    assert.match(refused, /^HTTP\/1\.1 401 /);
    assert.match(refused, /application\/json/i);
    assert.match(refused, /"code":"unauthorized"/);

    const json = (method: string, pathname: string, payload: unknown) =>
      h2request(
        session,
        pathname,
        { ':method': method, 'content-type': 'application/json' },
        Buffer.from(JSON.stringify(payload)),
      );
    const email = `pubsub-${Date.now()}@example.test`;
    const password = 'correct horse battery staple';
    const registered = await json('POST', '/api/auth/register', { email, password, displayName: 'Pubsub' });
    assert.equal(registered.status, 201, registered.body.toString());
    const login = await json('POST', '/api/auth/login', { email, password });
    const { accessToken, userId } = JSON.parse(login.body.toString()) as {
      accessToken: string;
      userId: string;
    };
    const accepted = await upgradeOverTls(
      site.httpsPort,
      ca,
      `/pubsub?access_token=${encodeURIComponent(accessToken)}`,
    );
    assert.match(accepted, /^HTTP\/1\.1 101 /);

    const result = spawnSync(
      process.execPath,
      [
        path.join(import.meta.dirname, 'support/pubsub-probe.ts'),
        `wss://localhost:${site.httpsPort}/pubsub?access_token=${encodeURIComponent(accessToken)}`,
        userId,
        '2',
      ],
      {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(site.tlsDir, 'fullchain.pem') },
        encoding: 'utf8',
        timeout: 45_000,
      },
    );
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual(JSON.parse(line), {
      frame: { status: 2, publisher: userId, timestamp: '1627128694.693686' },
    });
    // nginx's access log never holds the token: such a request is logged by its path (an upgraded
    // request is logged when its connection ends, so wait for the line).
    const logFile = path.join(site.dir, 'access.log');
    const deadline = Date.now() + 20_000;
    while (!readFileSync(logFile, 'utf8').includes('[withheld]') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const accessLog = readFileSync(logFile, 'utf8');
    assert.ok(!accessLog.includes(accessToken), 'the token is not in the access log');
    assert.match(accessLog, /"uri":"\/pubsub\?access_token=\[withheld\]"/);
  });

  it('redirects plain HTTP to HTTPS, keeping the path and query', async () => {
    const reply = await plainGet(site.httpPort, '/rooms/x?after=5');
    assert.equal(reply.status, 301);
    assert.equal(reply.location, `https://localhost:${site.httpsPort}/rooms/x?after=5`);
  });

  it('redirects to its own name whatever Host the client sends (no open redirect)', async () => {
    const reply = await plainGet(site.httpPort, '/login', { host: 'evil.example' });
    assert.equal(reply.status, 301);
    assert.equal(reply.location, `https://localhost:${site.httpsPort}/login`);
  });

  it('listens on IPv6 too, plain HTTP and HTTPS', async () => {
    const plain = await plainGet(site.httpPort, '/nginx-health', { address: '::1' });
    assert.equal(plain.status, 200);
    const v6 = http2.connect(`https://[::1]:${site.httpsPort}`, { ca, servername: 'localhost' });
    try {
      const reply = await h2request(v6, '/', { ':authority': 'localhost' });
      assert.equal(reply.status, 200);
    } finally {
      v6.close();
    }
  });

  it('serves the ACME challenge over plain HTTP without redirecting', async () => {
    writeFile(path.join(site.acmeRoot, '.well-known/acme-challenge/tok-123'), 'tok-123.thumbprint');
    const reply = await plainGet(site.httpPort, '/.well-known/acme-challenge/tok-123');
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'tok-123.thumbprint');
    const missing = await plainGet(site.httpPort, '/.well-known/acme-challenge/unknown');
    assert.equal(missing.status, 404);
  });

  it('keeps the visualizer behind basic auth, passing the client address on', async () => {
    const anonymous = await h2request(session, '/visualizer/');
    assert.equal(anonymous.status, 401);
    const wrong = await h2request(session, '/visualizer/', {
      authorization: 'Basic ' + Buffer.from('admin:nope').toString('base64'),
    });
    assert.equal(wrong.status, 401);
    const operator = await h2request(session, '/visualizer/?x=1', {
      authorization: 'Basic ' + Buffer.from('admin:s3cret').toString('base64'),
      'x-forwarded-for': '203.0.113.9',
    });
    assert.equal(operator.status, 200);
    const seen = JSON.parse(operator.body.toString()) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/visualizer/?x=1');
    assert.equal(seen.headers['x-real-ip'], '127.0.0.1');
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['host'], 'localhost');
    assert.match(seen.headers['x-request-id'] ?? '', /^[0-9a-f]{32}$/);
  });

  it('keeps Grafana, Prometheus, Jaeger and Alertmanager behind the same basic auth; Grafana is told the operator, never by the client', async () => {
    const basic = (user: string, password: string) =>
      'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
    for (const prefix of ['/grafana/', '/prometheus/', '/jaeger/', '/alertmanager/']) {
      assert.equal((await h2request(session, prefix)).status, 401, prefix);
      assert.equal(
        (await h2request(session, prefix, { authorization: basic('admin', 'nope') })).status,
        401,
        prefix,
      );
    }
    // A client naming itself in Grafana's auth-proxy header gets nowhere without the password…
    const forged = await h2request(session, '/grafana/d/veche-fleet', { 'x-webauth-user': 'admin' });
    assert.equal(forged.status, 401);
    // …and with it, the header carries the user nginx authenticated, not the client's.
    const grafana = await h2request(session, '/grafana/d/veche-fleet?orgId=1', {
      authorization: basic('admin', 's3cret'),
      'x-webauth-user': 'someone-else',
    });
    assert.equal(grafana.status, 200);
    const seenByGrafana = JSON.parse(grafana.body.toString()) as {
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(seenByGrafana.url, '/grafana/d/veche-fleet?orgId=1');
    assert.equal(seenByGrafana.headers['x-webauth-user'], 'admin');
    assert.equal(seenByGrafana.headers['authorization'], undefined, 'the password stops at nginx');
    const prometheus = await h2request(session, '/prometheus/api/v1/query?query=up', {
      authorization: basic('admin', 's3cret'),
    });
    assert.equal(prometheus.status, 200);
    const seenByPrometheus = JSON.parse(prometheus.body.toString()) as {
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(seenByPrometheus.url, '/prometheus/api/v1/query?query=up');
    assert.equal(seenByPrometheus.headers['authorization'], undefined);
    const alertmanager = await h2request(session, '/alertmanager/api/v2/alerts', {
      authorization: basic('admin', 's3cret'),
    });
    assert.equal(alertmanager.status, 200);
    const seenByAlertmanager = JSON.parse(alertmanager.body.toString()) as {
      url: string;
      headers: Record<string, string>;
    };
    assert.equal(
      seenByAlertmanager.url,
      '/alertmanager/api/v2/alerts',
      'the path as it is (its route prefix)',
    );
    assert.equal(seenByAlertmanager.headers['authorization'], undefined);
  });

  it('answers a typed 503 when an upstream is down', async () => {
    await new Promise((resolve) => echo.close(resolve));
    const reply = await h2request(session, '/visualizer/', {
      authorization: 'Basic ' + Buffer.from('admin:s3cret').toString('base64'),
    });
    assert.equal(reply.status, 503);
    assert.match(String(reply.headers['content-type']), /application\/json/);
    assert.equal(
      (JSON.parse(reply.body.toString()) as { error: { code: string } }).error.code,
      'unavailable',
    );
  });

  it('logs each request as one JSON line with its request id', () => {
    const lines = readFileSync(site.env['VECHE_NGINX_ACCESS_LOG']!, 'utf8').trim().split('\n');
    const entry = JSON.parse(lines.at(-1)!) as { service: string; requestId: string; status: number };
    assert.equal(entry.service, 'nginx');
    assert.match(entry.requestId, /^[0-9a-f]{32}$/);
  });
});
