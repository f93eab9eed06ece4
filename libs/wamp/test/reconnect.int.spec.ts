/**
 * Reconnection in the cases autobahn gives up on (it stops retrying after any leave): a registration
 * the router refuses while a session restores its procedures, and a session the router ends
 * (`wamp.session.kill_by_authid`). Also: replicas share their procedures (round-robin), as Crossbar
 * requires for a second callee.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { connectWampClient, eventually } from '@veche/testing';
import { createWampPolicy } from '@veche/wamp-policy';
import { serviceAuthenticator, startRouter, type WampRouter } from '@veche/wamp-router';
import type { WampService } from '../src/index.ts';
import { capturedLogger, connectTestService, serviceSecret } from './support.ts';

describe('wamp service client: reconnection and shared registrations', () => {
  const captured = capturedLogger('debug');
  const policy = createWampPolicy();
  /** How many more times the router refuses `register` of `veche.flaky.echo`. */
  let refusals = 0;
  let refused = 0;
  let router: WampRouter;
  const services: WampService[] = [];
  const connect = async (name: string) => {
    const service = await connectTestService(router.url, name, captured.log);
    services.push(service);
    return service;
  };

  before(async () => {
    router = await startRouter({
      log: captured.log,
      authenticate: serviceAuthenticator(serviceSecret),
      authorize: (principal, action, uri) => {
        if (action === 'register' && uri === 'veche.flaky.echo' && refusals > 0) {
          refusals -= 1;
          refused += 1;
          return false;
        }
        return policy.authorize(principal, action, uri);
      },
    });
  });
  after(async () => {
    for (const service of services) await service.close();
    await router.close();
  });

  it('comes back when the router refuses a registration once while restoring', async () => {
    const flaky = await connect('flaky');
    const caller = await connect('caller');
    await flaky.register('veche.flaky.echo', Type.Object({ n: Type.Integer() }), ({ n }) => ({ n }));
    assert.deepEqual(await caller.call('veche.flaky.echo', { n: 1 }), { n: 1 });

    // The router ends the flaky session; its next session's registration is refused once.
    refusals = 1;
    const admin = await connectWampClient(router.url, 'service:admin', serviceSecret);
    const killed = (await admin.session.call('wamp.session.kill_by_authid', ['service:flaky'])) as number[];
    assert.equal(killed.length, 1);
    admin.close();

    await eventually(() => refused === 1, { message: 'the restoring registration was refused' });
    // A session whose registration failed leaves; the client must open a new one and register again.
    assert.deepEqual(await caller.call('veche.flaky.echo', { n: 2 }, { timeoutMs: 20_000 }), { n: 2 });
    await eventually(() => flaky.isConnected, { timeoutMs: 20_000 });
    assert.ok(
      captured.lines.some(
        (line) => line['msg'] === 'restoring registrations after reconnect failed; reconnecting',
      ),
    );
  });

  it('lets two replicas register the same procedures and spreads calls over both', async () => {
    const first = await connect('chat');
    const second = await connect('chat');
    const caller = await connect('gateway');
    for (const [replica, name] of [
      [first, 'first'],
      [second, 'second'],
    ] as const) {
      await replica.register('veche.replicated.who', Type.Object({}), () => name);
    }
    const answers = new Set<unknown>();
    for (let i = 0; i < 4; i += 1) answers.add(await caller.call('veche.replicated.who'));
    assert.deepEqual([...answers].sort(), ['first', 'second']);

    // A single registration stays single: a second callee is refused.
    await first.register('veche.replicated.single', Type.Object({}), () => 'first', { invoke: 'single' });
    await assert.rejects(
      second.register('veche.replicated.single', Type.Object({}), () => 'second', { invoke: 'single' }),
      /already/i,
    );

    // One replica gone: every call still answered by the other.
    await first.close();
    for (let i = 0; i < 4; i += 1) assert.equal(await caller.call('veche.replicated.who'), 'second');
  });

  it('drops no call when a replica closes while calls are under way (a rolling restart)', async () => {
    const leaving = await connectTestService(router.url, 'presence-router', captured.log);
    const staying = await connect('presence-router');
    const caller = await connect('gateway');
    const slow = Type.Object({ n: Type.Integer() });
    const served = { leaving: 0, staying: 0 };
    const handler =
      (who: keyof typeof served) =>
      async ({ n }: { n: number }) => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        served[who] += 1;
        return { n };
      };
    await leaving.register('veche.rolling.work', slow, handler('leaving'));
    await staying.register('veche.rolling.work', slow, handler('staying'));
    let closing: Promise<void> | undefined;
    const results = await Promise.allSettled(
      Array.from({ length: 120 }, async (_, n) => {
        // Stagger the calls so some are in flight at the leaving replica when it closes.
        await new Promise((resolve) => setTimeout(resolve, n * 5));
        if (n === 40) closing = leaving.close();
        return caller.call('veche.rolling.work', { n });
      }),
    );
    await closing;
    const failed = results.filter((r) => r.status === 'rejected');
    assert.deepEqual(failed, [], 'every call answered');
    assert.ok(served.leaving > 0 && served.staying > served.leaving, JSON.stringify(served));
  });
});
