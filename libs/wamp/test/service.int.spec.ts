import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { VecheError, isVecheError, notFound } from '@veche/errors';
import { currentCorrelationId } from '@veche/log';
import { connectWampClient, eventually, scaledMs } from '@veche/testing';
import type { WampRouter } from '@veche/wamp-router';
import type { WampService } from '../src/index.ts';
import { capturedLogger, connectTestService, serviceSecret, startTestRouter } from './support.ts';

const AddArgs = Type.Object({ a: Type.Integer(), b: Type.Integer() }, { additionalProperties: false });

describe('wamp service client', () => {
  const captured = capturedLogger('debug');
  let router: WampRouter;
  let callee: WampService;
  let caller: WampService;
  const seenCorrelationIds: (string | undefined)[] = [];

  before(async () => {
    router = await startTestRouter(captured.log);
    callee = await connectTestService(router.url, 'chat', captured.log);
    caller = await connectTestService(router.url, 'gateway', captured.log);
    await callee.register('veche.test.add', AddArgs, ({ a, b }, context) => {
      seenCorrelationIds.push(context.correlationId, currentCorrelationId());
      context.log.info('adding');
      return { sum: a + b };
    });
    await callee.register('veche.test.notFound', Type.Object({ roomId: Type.String() }), ({ roomId }) => {
      throw notFound(`Room ${roomId} not found`, { details: { roomId } });
    });
    await callee.register('veche.test.crash', Type.Object({}), () => {
      throw new Error('duplicate key value violates unique constraint "users_secret_idx"');
    });
    await callee.register('veche.test.list', Type.Object({}), () => [[1, 2], null]);
    await callee.register('veche.test.nothing', Type.Object({}), () => undefined);
    await callee.register(
      'veche.test.slow',
      Type.Object({}),
      () => new Promise((resolve) => setTimeout(resolve, scaledMs(3_000))),
    );
  });

  after(async () => {
    await caller.close();
    await callee.close();
    await router.close();
  });

  it('calls a registered procedure with kwargs and returns its result', async () => {
    assert.deepEqual(await caller.call('veche.test.add', { a: 2, b: 3 }), { sum: 5 });
    assert.deepEqual(await caller.call('veche.test.list'), [[1, 2], null]);
    assert.equal(await caller.call('veche.test.nothing'), null);
  });

  it('calls with positional arguments and bare kwargs (no _meta) when asked', async () => {
    // Crossbar's meta procedures (`wamp.session.get(session_id)`) take positional arguments and refuse
    // an unknown `_meta` keyword: a raw callee shows exactly what arrives.
    const raw = await connectWampClient(router.url, 'service:raw', serviceSecret);
    const seen: { args: unknown[]; kwargs: Record<string, unknown> }[] = [];
    await raw.session.register('veche.test.raw', (args, kwargs) => {
      seen.push({ args, kwargs: kwargs ?? {} });
      return 'ok';
    });
    assert.equal(await caller.call('veche.test.raw', { a: 1 }, { bare: true, args: [7, 'x'] }), 'ok');
    assert.equal(await caller.call('veche.test.raw', { a: 1 }), 'ok');
    assert.deepEqual(seen[0], { args: [7, 'x'], kwargs: { a: 1 } });
    assert.deepEqual(seen[1]?.args, []);
    assert.ok('_meta' in (seen[1]?.kwargs ?? {}), 'without bare the correlation id travels');
    raw.close();
    const ids = await caller.call<number[]>('wamp.session.list', {}, { bare: true, args: [['service']] });
    const details = await caller.call<{ authid: string }>(
      'wamp.session.get',
      {},
      { bare: true, args: [ids[0]] },
    );
    assert.match(details.authid, /^service:/);
  });

  it('rejects kwargs that do not match the schema with validation and the details', async () => {
    for (const kwargs of [{ a: 'two', b: 3 }, { a: 1 }, { a: 1, b: 2, extra: true }]) {
      await assert.rejects(caller.call('veche.test.add', kwargs), (error: unknown) => {
        assert.ok(isVecheError(error, 'validation'), String(error));
        assert.ok(Array.isArray(error.details) && error.details.length > 0);
        return true;
      });
    }
    const error = await caller.call('veche.test.add', { a: 'two', b: 3 }).catch((e: unknown) => e);
    assert.ok(error instanceof VecheError);
    assert.ok((error.details as { path: string }[]).some((problem) => problem.path === '/a'));
  });

  it('maps a thrown VecheError to its code, message and details', async () => {
    await assert.rejects(caller.call('veche.test.notFound', { roomId: 'r1' }), (error: unknown) => {
      assert.ok(isVecheError(error, 'not_found'));
      assert.equal(error.message, 'Room r1 not found');
      assert.deepEqual(error.details, { roomId: 'r1' });
      return true;
    });
  });

  it('maps anything else to internal, logs it on the callee and leaks nothing', async () => {
    const error = await caller
      .call('veche.test.crash', {}, { correlationId: 'corr-crash' })
      .catch((e: unknown) => e);
    assert.ok(isVecheError(error, 'internal'));
    assert.equal(error.message, 'Internal error');
    assert.equal(error.details, undefined);
    assert.doesNotMatch(JSON.stringify(error), /users_secret_idx/);
    const logged = captured.lines.find(
      (line) => line['msg'] === 'procedure failed' && line['correlationId'] === 'corr-crash',
    );
    assert.ok(logged, 'the callee logged the failure with the correlation id');
    assert.match(JSON.stringify(logged['err']), /users_secret_idx/);
  });

  it('carries the correlation id to the callee’s context and log lines', async () => {
    seenCorrelationIds.length = 0;
    await caller.call('veche.test.add', { a: 1, b: 1 }, { correlationId: 'corr-42' });
    assert.deepEqual(seenCorrelationIds, ['corr-42', 'corr-42']);
    assert.ok(captured.lines.some((line) => line['msg'] === 'adding' && line['correlationId'] === 'corr-42'));
  });

  it('gives a fresh correlation id to a call that brings none', async () => {
    seenCorrelationIds.length = 0;
    await caller.call('veche.test.add', { a: 1, b: 1 });
    assert.match(String(seenCorrelationIds[0]), /^[0-9a-f-]{36}$/);
  });

  it('times out on the client side with unavailable', async () => {
    const started = Date.now();
    await assert.rejects(caller.call('veche.test.slow', {}, { timeoutMs: 200 }), (error: unknown) =>
      isVecheError(error, 'unavailable'),
    );
    assert.ok(Date.now() - started < scaledMs(1_500), 'the timeout, not the callee, ended the call');
  });

  it('maps a procedure nobody serves to unavailable', async () => {
    const started = Date.now();
    await assert.rejects(caller.call('veche.test.nobody', {}, { timeoutMs: 300 }), (error: unknown) =>
      isVecheError(error, 'unavailable'),
    );
    assert.ok(Date.now() - started >= 250, 'it waited for a callee until the deadline');
  });

  it('stops waiting for a callee after calleeWaitMs, well before the timeout', async () => {
    const started = Date.now();
    await assert.rejects(
      caller.call('veche.test.nobody', {}, { timeoutMs: 10_000, calleeWaitMs: 300 }),
      (error: unknown) => isVecheError(error, 'unavailable'),
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < scaledMs(2_000), `gave up after ${elapsed} ms`);
  });

  it('waits within the timeout for a procedure that is registered late', async () => {
    const late = caller.call('veche.test.late', {}, { timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await callee.register('veche.test.late', Type.Object({}), () => 'finally');
    assert.equal(await late, 'finally');
  });

  it('publishes with acknowledgement to a subscriber', async () => {
    const received: unknown[] = [];
    await callee.subscribe('veche.test.events', (payload) => received.push(payload));
    await caller.publish(
      'veche.test.events',
      { type: 'room.created', roomId: 'r1', seq: 1 },
      { acknowledge: true },
    );
    await eventually(() => received.length === 1, { timeoutMs: 5_000, message: 'the event' });
    assert.deepEqual(received, [{ type: 'room.created', roomId: 'r1', seq: 1 }]);
  });

  it('logs an async handler’s rejection and keeps delivering', async () => {
    const received: unknown[] = [];
    await callee.subscribe('veche.test.failing', async (payload) => {
      await Promise.resolve();
      if ((payload as { fail?: boolean }).fail) throw new Error('handler failed on purpose');
      received.push(payload);
    });
    await caller.publish('veche.test.failing', { fail: true }, { acknowledge: true });
    await caller.publish('veche.test.failing', { fail: false }, { acknowledge: true });
    await eventually(() => received.length === 1, { timeoutMs: 5_000, message: 'the second event' });
    assert.ok(
      captured.lines.some(
        (line) => line['msg'] === 'event handler failed' && line['topic'] === 'veche.test.failing',
      ),
    );
  });

  it('gives up with unavailable when it cannot join in time (a wrong secret)', async () => {
    const started = Date.now();
    await assert.rejects(
      connectTestService(router.url, 'intruder', captured.log, {
        secret: 'not-the-secret-0123456789',
        connectTimeoutMs: 500,
      }),
      (error: unknown) => isVecheError(error, 'unavailable'),
    );
    assert.ok(Date.now() - started < scaledMs(2_000));
  });

  it('refuses to register the same procedure twice in one service', async () => {
    await assert.rejects(
      callee.register('veche.test.add', AddArgs, () => 0),
      RangeError,
    );
  });
});

describe('wamp service client across a router restart', () => {
  it('re-registers procedures and re-subscribes, and calls work again', async () => {
    const captured = capturedLogger('silent');
    let router = await startTestRouter(captured.log);
    const port = router.port;
    const callee = await connectTestService(router.url, 'chat', captured.log);
    const caller = await connectTestService(router.url, 'gateway', captured.log);
    try {
      await callee.register('veche.test.echo', Type.Object({ text: Type.String() }), ({ text }) => text);
      const received: unknown[] = [];
      await callee.subscribe('veche.test.restarted', (payload) => received.push(payload));
      assert.equal(await caller.call('veche.test.echo', { text: 'before' }), 'before');

      await router.close();
      await eventually(() => !caller.isConnected && !callee.isConnected, {
        timeoutMs: 5_000,
        message: 'disconnect',
      });
      await assert.rejects(
        caller.call('veche.test.echo', { text: 'down' }, { timeoutMs: 300 }),
        (error: unknown) => isVecheError(error, 'unavailable'),
      );

      router = await startTestRouter(captured.log, port);
      // The first call waits for the session; the procedure must be there again.
      assert.equal(await caller.call('veche.test.echo', { text: 'after' }, { timeoutMs: 10_000 }), 'after');
      await eventually(() => callee.isConnected, { timeoutMs: 5_000, message: 'callee reconnect' });
      await eventually(
        async () => {
          await caller.publish('veche.test.restarted', { n: 1 }, { acknowledge: true });
          return received.length > 0;
        },
        { timeoutMs: 5_000, message: 'the event after the restart' },
      );
    } finally {
      await caller.close();
      await callee.close();
      await router.close();
    }
  });
});
