import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { eventually } from '@veche/testing';
import {
  composeAuthenticators,
  procedureAuthenticator,
  serviceAuthenticator,
  startRouter,
} from '../src/index.ts';
import { autobahn, capturedLogger, connectClient, rawClient, rawJoin } from './support/clients.ts';
import { rejectsWith, testSecret, testUsers, useTestRouter } from './support/router.ts';

describe('wamp router', () => {
  const router = useTestRouter();

  it('welcomes a service with the role service and a user with the role user', async () => {
    const service = await router.connect('service:chat', testSecret);
    assert.equal(service.details['authrole'], 'service');
    assert.equal(service.details['authid'], 'service:chat');
    const user = await router.connect('7', 'ticket-7');
    assert.equal(user.details['authrole'], 'user');
  });

  it('rejects a wrong service testSecret, a wrong user ticket and an unknown kind of authid', async () => {
    await assert.rejects(connectClient(router.url, 'service:chat', 'wrong-secret-0123456789'), /closed/);
    await assert.rejects(connectClient(router.url, '7', 'ticket-8'), /closed/);
    await assert.rejects(connectClient(router.url, 'admin', testSecret), /closed/);
    await assert.rejects(connectClient(router.url, 'service:Chat!', testSecret), /closed/);
  });

  it('delivers a service publication to the user who subscribed to their own topic', async () => {
    const service = await router.connect('service:chat', testSecret);
    const user = await router.connect('21', 'ticket-21');
    const received: unknown[] = [];
    await user.session.subscribe('veche.user.21.rooms', (args, kwargs) => received.push({ args, kwargs }));
    await service.session.publish(
      'veche.user.21.rooms',
      [[1, 2]],
      { roomId: 'r1', seq: 1 },
      { acknowledge: true },
    );
    await eventually(() => received.length === 1, { timeoutMs: 5_000, message: 'the event' });
    // Arguments travel verbatim (fox-wamp alone would flatten [[1, 2]] into [1, 2]).
    assert.deepEqual(received[0], { args: [[1, 2]], kwargs: { roomId: 'r1', seq: 1 } });
  });

  it('refuses a user another user’s topic, wildcards, publishing, registering and calling', async () => {
    const service = await router.connect('service:chat', testSecret);
    await service.session.register('veche.chat.listRooms', () => 'rooms');
    const user = await router.connect('1', 'ticket-1');
    await rejectsWith(
      user.session.subscribe('veche.user.12.rooms', () => {}),
      'wamp.error.not_authorized',
    );
    await rejectsWith(
      user.session.subscribe('veche.user.1.#', () => {}),
      'wamp.error.not_authorized',
    );
    await rejectsWith(
      user.session.subscribe('veche.user.#', () => {}),
      'wamp.error.not_authorized',
    );
    await rejectsWith(
      user.session.publish('veche.user.1.rooms', [], {}, { acknowledge: true })!,
      'wamp.error.not_authorized',
    );
    await rejectsWith(
      user.session.register('veche.chat.listRooms', () => 'hijacked'),
      'wamp.error.not_authorized',
    );
    await rejectsWith(user.session.call('veche.chat.listRooms', []), 'wamp.error.not_authorized');
    await rejectsWith(user.session.call('wamp.session.list', []), 'wamp.error.not_authorized');
    // The service's registration is intact.
    assert.equal(await service.session.call('veche.chat.listRooms', []), 'rooms');
  });

  it('drops a user’s unacknowledged publication without an error and without delivering it', async () => {
    const other = await router.connect('31', 'ticket-31');
    const received: unknown[] = [];
    await other.session.subscribe('veche.user.31.rooms', (args) => received.push(args));
    const user = await router.connect('32', 'ticket-32');
    void user.session.publish('veche.user.31.rooms', ['spoofed'], {});
    const service = await router.connect('service:chat', testSecret);
    await service.session.publish('veche.user.31.rooms', ['real'], {}, { acknowledge: true });
    await eventually(() => received.length >= 1, { timeoutMs: 5_000, message: 'the real event' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(received, [['real']]);
    // The user's session survived (autobahn treats an unexpected publish error as a protocol violation).
    await other.session.subscribe('veche.user.31.presence', () => {});
  });

  it('passes a callee’s error URI, args and kwargs through to the caller', async () => {
    const callee = await router.connect('service:chat', testSecret);
    await callee.session.register('veche.chat.fails', () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- autobahn turns a thrown autobahn.Error into a WAMP ERROR
      throw new autobahn.Error('veche.error.validation', [], { message: 'bad', details: { field: 'name' } });
    });
    await callee.session.register('veche.chat.echo', (args, kwargs) => new autobahn.Result(args, kwargs));
    const caller = await router.connect('service:gateway', testSecret);
    await assert.rejects(
      caller.session.call('veche.chat.fails', [], {}),
      (error: Record<string, unknown>) => {
        assert.equal(error['error'], 'veche.error.validation');
        assert.deepEqual(error['kwargs'], { message: 'bad', details: { field: 'name' } });
        return true;
      },
    );
    const result = (await caller.session.call('veche.chat.echo', [null], { a: 1 })) as Record<
      string,
      unknown
    >;
    assert.deepEqual({ args: result['args'], kwargs: result['kwargs'] }, { args: [null], kwargs: { a: 1 } });
    await rejectsWith(caller.session.call('veche.chat.nobody', []), 'wamp.error.no_such_procedure');
  });

  it('authenticates users through a procedure a service registers (Crossbar’s dynamic authenticator contract)', async () => {
    const own = capturedLogger('silent');
    const dynamic = await startRouter({
      log: own.log,
      authenticate: composeAuthenticators(
        serviceAuthenticator(testSecret),
        procedureAuthenticator('veche.gateway.authenticate', { timeoutMs: 2_000 }),
      ),
    });
    const gateway = await connectClient(dynamic.url, 'service:gateway', testSecret);
    try {
      await assert.rejects(
        connectClient(dynamic.url, '5', 'token-5'),
        /closed/,
        'no authenticator registered yet',
      );
      await gateway.session.register('veche.gateway.authenticate', (args) => {
        const [realm, authid, details] = args as [string, string, { ticket: string }];
        if (realm !== 'veche' || details.ticket !== `token-${authid}`) {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- autobahn turns a thrown autobahn.Error into a WAMP ERROR
          throw new autobahn.Error('veche.error.unauthorized', [], { message: 'bad token' });
        }
        return { role: 'user', extra: { displayName: `user ${authid}` } };
      });
      const user = await connectClient(dynamic.url, '5', 'token-5');
      assert.equal(user.details['authrole'], 'user');
      assert.deepEqual(user.details['authextra'], { displayName: 'user 5' });
      user.close();
      await assert.rejects(connectClient(dynamic.url, '5', 'token-6'), /closed/);
    } finally {
      gateway.close();
      await dynamic.close();
    }
  });

  it('attaches to an existing HTTP server on /ws and leaves other paths alone', async () => {
    const server = createServer((_request, response) => response.end('web'));
    // The server's own upgrade handler, for the paths that are not the router's.
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      if (request.url !== '/ws') socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const own = capturedLogger('silent');
    const attached = await startRouter({
      log: own.log,
      server,
      authenticate: serviceAuthenticator(testSecret),
    });
    try {
      const { port } = server.address() as AddressInfo;
      assert.equal(attached.url, `ws://127.0.0.1:${port}/ws`);
      const client = await connectClient(attached.url, 'service:chat', testSecret);
      client.close();
      await assert.rejects(
        connectClient(`ws://127.0.0.1:${port}/other`, 'service:chat', testSecret),
        /closed/,
      );
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'web');
    } finally {
      await attached.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('drops a subscriber that stops reading instead of buffering for it without bound', async () => {
    const own = capturedLogger('debug');
    const bounded = await startRouter({
      log: own.log,
      authenticate: composeAuthenticators(serviceAuthenticator(testSecret), testUsers),
      maxBufferedBytes: 256 * 1024,
    });
    const service = await connectClient(bounded.url, 'service:chat', testSecret);
    try {
      const stalled = await rawClient(bounded.url);
      assert.equal((await rawJoin(stalled, '9', 'ticket-9'))[0], 2);
      stalled.send([32, 1, {}, 'veche.user.9.rooms']);
      assert.equal((await stalled.next())[0], 33);
      (stalled.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      const before = bounded.sessionCount();
      const text = 'x'.repeat(32 * 1024);
      for (let i = 0; i < 400; i++) void service.session.publish('veche.user.9.rooms', [text], {});
      await eventually(() => own.lines.some((line) => line['msg'] === 'client does not read; dropping it'), {
        timeoutMs: 10_000,
        message: 'the stalled client to be dropped',
      });
      await eventually(() => bounded.sessionCount() === before - 1, {
        timeoutMs: 5_000,
        message: 'its session gone',
      });
      // The publisher is unaffected.
      await service.session.publish('veche.user.9.rooms', ['after'], {}, { acknowledge: true });
    } finally {
      service.close();
      await bounded.close();
    }
  });

  it('keeps its process alive through an unhandled rejection, logging it', async () => {
    // In a child process: node:test itself fails a test on any unhandled rejection in its own process.
    const index = new URL('../src/index.ts', import.meta.url).href;
    const logLib = new URL('../../log/src/index.ts', import.meta.url).href;
    const script = `
      import { startRouter, serviceAuthenticator } from '${index}';
      import { createLogger } from '${logLib}';
      const router = await startRouter({ log: createLogger({ service: 't', level: 'error' }), authenticate: serviceAuthenticator('${testSecret}') });
      void Promise.reject(new Error('from a fox-wamp code path'));
      setTimeout(async () => { await router.close(); process.stdout.write('survived\\n'); }, 200);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.match(stdout, /unhandled promise rejection \(kept the router running\)/);
    assert.match(stdout, /from a fox-wamp code path/);
    assert.match(stdout, /survived/);
  });
});
