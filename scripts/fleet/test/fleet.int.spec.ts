/**
 * The README's first command, for real: the fleet starts the router and every service behind one
 * origin, serves /ws (WAMP through the proxy), answers typed errors for absent services, and stops
 * cleanly on SIGINT.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { connectWampClient, eventually } from '@veche/testing';
import { freePort } from '../processes.ts';

const root = path.resolve(import.meta.dirname, '../../..');
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

describe('local fleet', () => {
  let fleet: ChildProcess;
  let origin: string;
  let output = '';
  let exitCode: Promise<number | null>;

  before(async () => {
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const databaseUrl = new URL(
      process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test',
    );
    databaseUrl.pathname = '/veche_fleet_test';
    fleet = spawn(process.execPath, [path.join(root, 'scripts/fleet/main.ts')], {
      cwd: root,
      env: {
        ...process.env,
        VECHE_PORT: String(port),
        DATABASE_URL: databaseUrl.toString(),
        VECHE_SERVICE_SECRET: secret,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so the test can signal the group as a terminal's Ctrl-C does.
      detached: true,
    });
    fleet.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    fleet.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exitCode = new Promise((resolve) => fleet.on('exit', (code) => resolve(code)));
    await eventually(() => output.includes('Veche is running at'), {
      timeoutMs: 60_000,
      message: 'the fleet to start',
    }).catch((error: unknown) => {
      throw new Error(`fleet did not start; output:\n${output}`, { cause: error });
    });
  });

  after(() => {
    if (fleet.exitCode === null) process.kill(-fleet.pid!, 'SIGKILL');
  });

  it('reports every process running', async () => {
    const status = (await (await fetch(`${origin}/_fleet/status`)).json()) as FleetStatus;
    const router = status.processes.find((p) => p.name === 'wamp-router');
    assert.equal(router?.status, 'running');
    for (const p of status.processes) assert.equal(p.status, 'running', `${p.name} is ${p.status}`);
  });

  it('routes /ws to the WAMP router through the one origin', async () => {
    const url = origin.replace('http', 'ws') + '/ws';
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
      return Promise.race([received, new Promise((r) => setTimeout(() => r(undefined), 200))]);
    });
    assert.deepEqual(await received, { hello: 'fleet' });
    await assert.rejects(openSession(url, 'service:intruder', 'wrong-secret'));
    publisher.leave('wamp.close.normal', '');
    subscriber.leave('wamp.close.normal', '');
  });

  it('answers a typed 503 for a prefix whose service is not running', async () => {
    const status = (await (await fetch(`${origin}/_fleet/status`)).json()) as FleetStatus;
    for (const route of status.routes.filter((r) => r.port === undefined && !r.prefix.startsWith('/ws'))) {
      const response = await fetch(`${origin}${route.prefix}/anything`);
      assert.equal(response.status, 503);
      const body = (await response.json()) as { error: { code: string } };
      assert.equal(body.error.code, 'unavailable');
    }
    const page = await fetch(origin + '/');
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  });

  it('survives clients that reset an upgrade at once, on every route', async () => {
    const { port } = new URL(origin);
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
    await new Promise((resolve) => setTimeout(resolve, 200));
    const status = await fetch(`${origin}/_fleet/status`);
    assert.equal(status.status, 200);
    assert.equal(fleet.exitCode, null, output.slice(-2000));
  });

  it('stops every process gracefully on Ctrl-C (SIGINT to the process group) and exits 0', async () => {
    const status = (await (await fetch(`${origin}/_fleet/status`)).json()) as FleetStatus;
    const pids = status.processes.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
    assert.ok(pids.length >= 1);
    // A browser still connected must not hold the stop up.
    const lingering = await openSession(origin.replace('http', 'ws') + '/ws', 'service:lingering', secret);
    assert.ok(lingering.isOpen);
    // Ctrl-C in a terminal signals the whole foreground process group, not only the fleet.
    process.kill(-fleet.pid!, 'SIGINT');
    const code = await Promise.race([exitCode, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    assert.equal(code, 0, output.slice(-2000));
    for (const pid of pids) assert.equal(alive(pid), false, `process ${pid} survived the fleet`);
    assert.match(output, /stopped/);
    // Each process stopped gracefully on one signal, not abruptly on a second one.
    assert.doesNotMatch(output, /second signal/);
  });
});
