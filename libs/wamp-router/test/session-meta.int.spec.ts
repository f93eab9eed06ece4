/**
 * The session meta API as Crossbar has it, which the presence-router follows to know who holds a
 * `/ws` session: on_join/on_leave events, and list/get/count for services only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useTestRouter } from './support/router.ts';

/** Events on a topic, with a way to wait for the next one. */
function collector() {
  const events: unknown[][] = [];
  const waiters: (() => void)[] = [];
  return {
    events,
    handler: (args: unknown[] | undefined) => {
      events.push(args ?? []);
      for (const wake of waiters.splice(0)) wake();
    },
    async next(count: number): Promise<unknown[]> {
      while (events.length < count) await new Promise<void>((resolve) => waiters.push(resolve));
      return events[count - 1]!;
    },
  };
}

describe('session meta API', () => {
  const router = useTestRouter();

  it('announces joins and leaves, and lists and describes sessions to services', async () => {
    const service = await router.connect('service:presence-router');
    const joins = collector();
    const leaves = collector();
    await service.session.subscribe('wamp.session.on_join', joins.handler);
    await service.session.subscribe('wamp.session.on_leave', leaves.handler);

    const user = await router.connect('42');
    const [details] = (await joins.next(1)) as [Record<string, unknown>];
    assert.equal(details['session'], user.session.id);
    assert.equal(details['authid'], '42');
    assert.equal(details['authrole'], 'user');

    const listed = (await service.session.call('wamp.session.list', [['user']])) as number[];
    assert.deepEqual(listed, [user.session.id]);
    const all = (await service.session.call('wamp.session.list', [])) as number[];
    assert.ok(all.includes(service.session.id) && all.includes(user.session.id));
    assert.equal(await service.session.call('wamp.session.count', [['user']]), 1);
    const got = (await service.session.call('wamp.session.get', [], {
      session_id: user.session.id,
    })) as Record<string, unknown>;
    assert.equal(got['authid'], '42');
    await assert.rejects(
      service.session.call('wamp.session.get', [123456789]),
      (error: { error?: string }) => {
        assert.equal(error.error, 'wamp.error.no_such_session');
        return true;
      },
    );

    // A user may neither list sessions nor watch them come and go.
    await assert.rejects(user.session.call('wamp.session.list', []), (error: { error?: string }) => {
      assert.equal(error.error, 'wamp.error.not_authorized');
      return true;
    });
    await assert.rejects(user.session.subscribe('wamp.session.on_join', () => {}));

    const id = user.session.id;
    user.close();
    assert.deepEqual(await leaves.next(1), [id, '42', 'user']);
    assert.deepEqual(await service.session.call('wamp.session.list', [['user']]), []);
    service.close();
  });
});
