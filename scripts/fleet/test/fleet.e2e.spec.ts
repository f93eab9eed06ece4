/**
 * The README's first command, for real: the fleet starts the router and every service behind one
 * origin, serves /ws (WAMP through the origin), passes the gateway's own answer to an oversize body
 * through, opens the links of real mails as the web client's pages, survives clients that reset
 * upgrades, and stops cleanly on Ctrl-C.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { connectWampClient, eventually } from '@veche/testing';
import { startFleet, type Fleet } from './support/fleet.ts';

const secret = 'fleet-test-secret-' + Math.random().toString(36).slice(2);

interface FleetStatus {
  processes: { name: string; pid: number | undefined; status: string }[];
  routes: { prefix: string; owner: string; port: number | undefined }[];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const openSession = async (url: string, authid: string, ticket: string) =>
  (await connectWampClient(url, authid, ticket)).session;

/** A POST as curl sends it (the whole body, whatever the server says meanwhile). */
function post(origin: string, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (!['EPIPE', 'ECONNRESET'].includes(error.code ?? '')) reject(error);
    });
    request.end(body);
  });
}

describe('local fleet', () => {
  let fleet: Fleet;

  before(async () => {
    fleet = await startFleet({ env: { VECHE_SERVICE_SECRET: secret, REQUIRE_VERIFIED_EMAIL: 'true' } });
  });

  after(async () => {
    await fleet?.stop();
  });

  it('reports every process running', async () => {
    const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as FleetStatus;
    const router = status.processes.find((p) => p.name === 'wamp-router');
    assert.equal(router?.status, 'running');
    for (const p of status.processes) assert.equal(p.status, 'running', `${p.name} is ${p.status}`);
    assert.equal((await fetch(`${fleet.origin}/_fleet/ready`)).status, 200);
  });

  it('routes /ws to the WAMP router through the one origin', async () => {
    const url = fleet.origin.replace('http', 'ws') + '/ws';
    const publisher = await openSession(url, 'service:fleet-test', secret);
    const subscriber = await openSession(url, 'service:fleet-test-2', secret);
    const received = new Promise<unknown>((resolve) => {
      void subscriber.subscribe('veche.test.fleet', (args) => resolve(args?.[0]));
    });
    await eventually(async () => {
      await publisher.publish(
        'veche.test.fleet',
        [{ hello: 'fleet' }],
        {},
        { acknowledge: true, exclude_me: true },
      );
      return Promise.race([received, new Promise((r) => setTimeout(r, 200, undefined))]);
    });
    assert.deepEqual(await received, { hello: 'fleet' });
    await assert.rejects(openSession(url, 'service:intruder', 'wrong-secret'));
    publisher.leave('wamp.close.normal', '');
    subscriber.leave('wamp.close.normal', '');
  });

  it('answers a typed 503 for a prefix whose service is not running', async () => {
    const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as FleetStatus;
    for (const route of status.routes.filter((r) => r.port === undefined && !r.prefix.startsWith('/ws'))) {
      const response = await fetch(`${fleet.origin}${route.prefix}/anything`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'unavailable');
    }
  });

  it('passes the gateway’s 413 through for a 5 MB log-in body (it became a 503)', async () => {
    const answer = await post(fleet.origin, '/api/auth/login', Buffer.alloc(5 * 1024 * 1024, 'x'));
    assert.equal(answer.status, 413, answer.body);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'validation');
  });

  it('opens the verification link of a real mail as the web client’s page, and the token in it works', async () => {
    const email = `fleet-${Date.now()}@example.org`;
    const password = 'a long enough password';
    const registered = await fetch(`${fleet.origin}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password, displayName: 'Fleet' }),
    });
    assert.ok(registered.ok, await registered.text());
    const link = new URL(await fleet.mailLink(email, '/verify-email'));
    assert.equal(link.origin, fleet.origin, 'the mail links to this origin');
    const page = await fetch(link, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await page.text(), /<div id="root">/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY', 'nginx’s security headers');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    // What the page does with the token: the account is verified and can log in.
    const verified = await fetch(`${fleet.origin}/api/auth/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: link.searchParams.get('token') }),
    });
    assert.ok(verified.ok, await verified.text());
    const login = await fetch(`${fleet.origin}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    assert.equal(login.status, 200, await login.text());
  });

  it('survives clients that reset an upgrade at once, on every route', async () => {
    const { port } = new URL(fleet.origin);
    for (const path of ['/pubsub', '/nowhere', '/ws']) {
      for (let i = 0; i < 5; i += 1) {
        await new Promise<void>((resolve) => {
          const socket = net.connect({ host: '127.0.0.1', port: Number(port) }, () => {
            socket.write(
              `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
                'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
            );
            socket.resetAndDestroy();
            resolve();
          });
          socket.on('error', () => resolve());
        });
      }
    }
    const status = await fetch(`${fleet.origin}/_fleet/status`);
    assert.equal(status.status, 200);
    assert.equal(fleet.child.exitCode, null, fleet.output().slice(-2000));
  });

  it('stops every process gracefully on Ctrl-C (SIGINT to the process group) and exits 0', async () => {
    const status = (await (await fetch(`${fleet.origin}/_fleet/status`)).json()) as FleetStatus;
    const pids = status.processes.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
    assert.ok(pids.length >= 1);
    // A browser still connected must not hold the stop up.
    const lingering = await openSession(
      fleet.origin.replace('http', 'ws') + '/ws',
      'service:lingering',
      secret,
    );
    assert.ok(lingering.isOpen);
    // Ctrl-C in a terminal signals the whole foreground process group, not only the fleet.
    process.kill(-fleet.child.pid!, 'SIGINT');
    const code = await Promise.race([fleet.exited, new Promise((r) => setTimeout(r, 30_000, 'timeout'))]);
    assert.equal(code, 0, fleet.output().slice(-2000));
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} survived the fleet`);
    assert.match(fleet.output(), /stopped/);
    // Each process stopped gracefully on one signal, not abruptly on a second one.
    assert.doesNotMatch(fleet.output(), /second signal/);
  });
});
