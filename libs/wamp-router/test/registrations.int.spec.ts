/**
 * Registration parity with Crossbar 21.3.1 (crossbar/router/dealer.py, processRegister/processCall):
 * single callee by default, shared registrations only with the same `invoke` policy, calls spread
 * over shared callees by the policy, the policy forgotten with the last callee, `wamp.*` reserved,
 * and `force_reregister` (the new callee takes the URI over, the old ones are told UNREGISTERED).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually } from '@veche/testing';
import { rawClient, rawJoin } from './support/clients.ts';
import { rejectsWith, testSecret, useTestRouter } from './support/router.ts';

describe('registrations (Crossbar parity)', () => {
  const router = useTestRouter();
  const service = (name = 'service:chat') => router.connect(name);

  it('refuses a second callee of a single registration with procedure_already_exists', async () => {
    const first = await service();
    const second = await service();
    await first.session.register('veche.test.single', () => 'first');
    await rejectsWith(
      second.session.register('veche.test.single', () => 'second'),
      'wamp.error.procedure_already_exists',
    );
    // Asking for a shared policy does not join a single registration either.
    await rejectsWith(
      second.session.register('veche.test.single', () => 'second', { invoke: 'roundrobin' }),
      'wamp.error.procedure_already_exists',
    );
    // Nor does the same session registering twice.
    await rejectsWith(
      first.session.register('veche.test.single', () => 'again'),
      'wamp.error.procedure_already_exists',
    );
    assert.equal(await second.session.call('veche.test.single', []), 'first');
  });

  it('shares a registration among callees of the same policy and refuses a different one', async () => {
    const [a, b, c] = [await service(), await service(), await service()];
    await a.session.register('veche.test.shared', () => 'a', { invoke: 'roundrobin' });
    await b.session.register('veche.test.shared', () => 'b', { invoke: 'roundrobin' });
    await rejectsWith(
      c.session.register('veche.test.shared', () => 'c'),
      'wamp.error.procedure_exists_with_different_invocation_policy',
    );
    await rejectsWith(
      c.session.register('veche.test.shared', () => 'c', { invoke: 'random' }),
      'wamp.error.procedure_exists_with_different_invocation_policy',
    );
    const answers: unknown[] = [];
    for (let i = 0; i < 6; i += 1) answers.push(await c.session.call('veche.test.shared', []));
    assert.deepEqual(answers, ['a', 'b', 'a', 'b', 'a', 'b'], 'round-robin in registration order');
  });

  it('keeps a shared procedure answered when a callee leaves, and forgets the policy with the last one', async () => {
    const [a, b, caller] = [await service(), await service(), await service()];
    await a.session.register('veche.test.failover', () => 'a', { invoke: 'roundrobin' });
    await b.session.register('veche.test.failover', () => 'b', { invoke: 'roundrobin' });
    const sessions = router.sessionCount();
    a.close();
    await eventually(() => router.sessionCount() === sessions - 1);
    for (let i = 0; i < 3; i += 1) assert.equal(await caller.session.call('veche.test.failover', []), 'b');
    b.close();
    await eventually(() => router.sessionCount() === sessions - 2);
    await rejectsWith(caller.session.call('veche.test.failover', []), 'wamp.error.no_such_procedure');
    // A new registration may pick any policy once nobody serves the URI.
    const single = await service();
    await single.session.register('veche.test.failover', () => 'single');
    assert.equal(await caller.session.call('veche.test.failover', []), 'single');
  });

  it('fails a call in flight with wamp.error.canceled when its callee disconnects', async () => {
    const [callee, caller] = [await service(), await service()];
    let invoked: () => void = () => {};
    const invocation = new Promise<void>((resolve) => (invoked = resolve));
    await callee.session.register('veche.test.hangs', () => {
      invoked();
      return new Promise(() => {});
    });
    const call = caller.session.call('veche.test.hangs', []);
    await invocation;
    callee.close();
    await rejectsWith(call, 'wamp.error.canceled');
  });

  it('invokes the first or the last callee by policy', async () => {
    const [a, b, caller] = [await service(), await service(), await service()];
    await a.session.register('veche.test.first', () => 'a', { invoke: 'first' });
    await b.session.register('veche.test.first', () => 'b', { invoke: 'first' });
    await a.session.register('veche.test.last', () => 'a', { invoke: 'last' });
    await b.session.register('veche.test.last', () => 'b', { invoke: 'last' });
    for (let i = 0; i < 3; i += 1) {
      assert.equal(await caller.session.call('veche.test.first', []), 'a');
      assert.equal(await caller.session.call('veche.test.last', []), 'b');
    }
  });

  it('reserves wamp.* procedures and treats an unknown invoke policy as a protocol error', async () => {
    const a = await service();
    await rejectsWith(
      a.session.register('wamp.session.kill', () => null),
      'wamp.error.invalid_uri',
    );
    const raw = await rawClient(router.url);
    assert.equal((await rawJoin(raw, 'service:chat', testSecret))[0], 2);
    raw.send([64, 1, { invoke: 'everyone' }, 'veche.test.bogus']);
    const abort = await raw.next();
    assert.deepEqual([abort[0], abort[2]], [3, 'wamp.error.protocol_violation']);
    await raw.closed;
  });

  it('answers a user registering a served procedure not_authorized, not procedure_already_exists', async () => {
    const a = await service();
    await a.session.register('veche.test.secret', () => null, { invoke: 'roundrobin' });
    const user = await router.connect('7');
    await rejectsWith(
      user.session.register('veche.test.secret', () => null),
      'wamp.error.not_authorized',
    );
    await rejectsWith(
      user.session.register('veche.test.unserved', () => null),
      'wamp.error.not_authorized',
    );
  });

  describe('force_reregister', () => {
    /** A raw callee of `uri`: answers the registration id. */
    const rawCallee = async (uri: string, options: Record<string, unknown> = {}) => {
      const raw = await rawClient(router.url);
      assert.equal((await rawJoin(raw, 'service:chat', testSecret))[0], 2);
      raw.send([64, 1, options, uri]);
      const registered = await raw.next();
      assert.equal(registered[0], 65, JSON.stringify(registered));
      return { raw, registrationId: registered[2] as number };
    };

    it('takes a single registration over: the old callee gets UNREGISTERED, calls go to the new one', async () => {
      const old = await rawCallee('veche.test.takeover');
      const fresh = await service();
      await fresh.session.register('veche.test.takeover', () => 'fresh', { force_reregister: true });
      assert.deepEqual(await old.raw.next(), [
        67,
        0,
        { registration: old.registrationId, reason: 'wamp.error.unregistered' },
      ]);
      const caller = await service();
      assert.equal(await caller.session.call('veche.test.takeover', []), 'fresh');
      // The URI is the new callee's, single: another callee without the flag is refused again.
      await rejectsWith(
        (await service()).session.register('veche.test.takeover', () => 'late'),
        'wamp.error.procedure_already_exists',
      );
      old.raw.socket.close();
    });

    it('skips the policy conflict: every shared callee is dropped and the new policy holds', async () => {
      const a = await rawCallee('veche.test.takeover-shared', { invoke: 'roundrobin' });
      const b = await rawCallee('veche.test.takeover-shared', { invoke: 'roundrobin' });
      const fresh = await service();
      await fresh.session.register('veche.test.takeover-shared', () => 'single', { force_reregister: true });
      for (const old of [a, b]) {
        const unregistered = await old.raw.next();
        assert.deepEqual(unregistered.slice(0, 2), [67, 0]);
        old.raw.socket.close();
      }
      const caller = await service();
      for (let i = 0; i < 3; i += 1)
        assert.equal(await caller.session.call('veche.test.takeover-shared', []), 'single');
      await rejectsWith(
        (await service()).session.register('veche.test.takeover-shared', () => 'rr', {
          invoke: 'roundrobin',
        }),
        'wamp.error.procedure_already_exists',
      );
    });

    it('lets an invocation already sent to a dropped callee finish', async () => {
      const old = await rawCallee('veche.test.takeover-inflight');
      const caller = await service();
      const call = caller.session.call('veche.test.takeover-inflight', [], { n: 1 });
      const invocation = await old.raw.next();
      assert.equal(invocation[0], 68);
      const fresh = await service();
      await fresh.session.register('veche.test.takeover-inflight', () => 'fresh', { force_reregister: true });
      assert.equal((await old.raw.next())[0], 67);
      old.raw.send([70, invocation[1], {}, ['old, in flight']]);
      assert.equal(await call, 'old, in flight');
      assert.equal(await caller.session.call('veche.test.takeover-inflight', []), 'fresh');
      old.raw.socket.close();
    });

    it('is refused to a user (not_authorized, the callee untouched) and must be a boolean', async () => {
      const callee = await service();
      await callee.session.register('veche.test.guarded', () => 'service');
      const user = await router.connect('7');
      await rejectsWith(
        user.session.register('veche.test.guarded', () => 'user', { force_reregister: true }),
        'wamp.error.not_authorized',
      );
      assert.equal(await (await service()).session.call('veche.test.guarded', []), 'service');

      const raw = await rawClient(router.url);
      assert.equal((await rawJoin(raw, 'service:chat', testSecret))[0], 2);
      raw.send([64, 1, { force_reregister: 'yes' }, 'veche.test.guarded']);
      const abort = await raw.next();
      assert.deepEqual([abort[0], abort[2]], [3, 'wamp.error.protocol_violation']);
      await raw.closed;
      // A false or null flag is the ordinary registration.
      await rejectsWith(
        (await service()).session.register('veche.test.guarded', () => 'again', { force_reregister: false }),
        'wamp.error.procedure_already_exists',
      );
    });
  });
});
