import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from '@veche/db';
import { eventually, uniqueName, type TestDatabase } from '@veche/testing';
import {
  createEventStore,
  createSubscription,
  notificationChannel,
  type EventStore,
  type RecordedEvent,
  type Subscription,
  type SubscriptionOptions,
} from '../src/index.ts';
import { migratedDatabase, testLog } from './setup.ts';

let database: TestDatabase;
let store: EventStore;
const running: Subscription[] = [];

function subscribe(
  options: Partial<SubscriptionOptions> & Pick<SubscriptionOptions, 'name' | 'handle'>,
): Subscription {
  const subscription = createSubscription({
    database,
    store,
    log: testLog(),
    mode: 'at-least-once',
    leaseRetryMs: 100,
    pollIntervalMs: 100,
    ...options,
  });
  running.push(subscription);
  return subscription;
}

async function appendMany(streamId: string, count: number, type = 'message.posted'): Promise<string[]> {
  const { events } = await store.append(
    streamId,
    Array.from({ length: count }, (_, i) => ({ type, data: { i } })),
  );
  return events.map((e) => e.eventId);
}

describe('subscriptions', () => {
  before(async () => {
    database = await migratedDatabase(import.meta.filename, 5);
    await sql`create table effects (name text not null, event_id text not null)`.execute(database.db);
    store = createEventStore({ database, log: testLog() });
  });
  after(async () => {
    await Promise.all(running.map((s) => s.stop()));
    await store.close();
    await database.drop();
  });

  it('delivers the log in order and resumes after a restart from the persisted checkpoint', async () => {
    const name = uniqueName('resume');
    const received: RecordedEvent[] = [];
    const handle = async (events: readonly RecordedEvent[]): Promise<void> => {
      received.push(...events);
    };
    const first = subscribe({ name, handle, batchSize: 7 });
    const before = await appendMany(uniqueName('room'), 20);
    await first.start();
    assert.equal(first.isLeader, true);
    await eventually(() => received.length >= before.length, { message: 'the first run' });
    await first.stop();
    assert.equal(first.isLeader, false);
    const afterStop = received.length;
    const last = received.at(-1)!;
    assert.deepEqual(await first.checkpoint(), {
      transactionId: last.transactionId,
      globalPosition: last.globalPosition,
    });

    const later = await appendMany(uniqueName('room'), 15);
    const second = subscribe({ name, handle, batchSize: 7 });
    await second.start();
    await eventually(() => received.length >= afterStop + later.length, { message: 'the second run' });
    await delay(200);
    const ids = received.map((e) => e.eventId);
    assert.deepEqual(ids.slice(afterStop), later, 'only the new events, in order, after the restart');
    assert.deepEqual(ids.slice(0, afterStop).slice(-before.length), before);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('wakes on NOTIFY without waiting for the poll interval', async () => {
    const received: string[] = [];
    const subscription = subscribe({
      name: uniqueName('notify'),
      pollIntervalMs: 60_000,
      handle: async (events) => {
        received.push(...events.map((e) => e.eventId));
      },
    });
    // start() resolves once the leader listens.
    await subscription.start();
    const [id] = await appendMany(uniqueName('room'), 1);
    // 10 s (30 s with TEST_TIME_SCALE's default 3), well inside the 60 s poll interval: only the
    // notification explains a delivery. (The horizon may be held back a while by other suites'
    // transactions on this shared server: see the next test.)
    await eventually(() => received.includes(id!), { message: 'the notified delivery', timeoutMs: 10_000 });
    await subscription.stop();
  });

  /**
   * Appends one event while an older transaction with an id is open, so that it is committed (and
   * notified) but past the readable horizon (the snapshot's xmin); runs `whileHeld`; ends the older
   * transaction and waits until the event is readable. Other suites on this shared server may hold the
   * horizon a while longer with transactions of their own: the caller times the delivery from here.
   */
  async function appendHeldBack(whileHeld: (event: RecordedEvent) => Promise<void>): Promise<RecordedEvent> {
    const blocker = await database.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select pg_current_xact_id()');
      const { events } = await store.append(uniqueName('room'), [{ type: 'message.posted', data: { i: 0 } }]);
      const event = events[0]!;
      await whileHeld(event);
      await blocker.query('commit');
      await eventually(
        async () =>
          (
            await sql<{ readable: boolean }>`
              select pg_snapshot_xmin(pg_current_snapshot()) > ${event.transactionId}::xid8 as readable`.execute(
              database.db,
            )
          ).rows[0]?.readable,
        {
          message: 'the event to become readable (transactions elsewhere on the server hold it back)',
          timeoutMs: 40_000,
        },
      );
      return event;
    } finally {
      await blocker.query('rollback').catch(() => {});
      blocker.release();
    }
  }

  /** A subscription that only the looks for held-back events can wake in time (an hour's poll). */
  function subscribeWithoutPolling(prefix: string, received: string[]): Subscription {
    return subscribe({
      name: uniqueName(prefix),
      pollIntervalMs: 3_600_000,
      handle: async (events) => {
        received.push(...events.map((e) => e.eventId));
      },
    });
  }

  // The looks again wait at most 1 s once doubled up: seconds, against an hour's poll interval.
  const deliveredSoon = (received: string[], event: RecordedEvent): Promise<unknown> =>
    eventually(() => received.includes(event.eventId), {
      message: 'the delivery after the event became readable',
      timeoutMs: 5_000,
    });

  it('delivers a notified event held back by a long transaction elsewhere once it ends, not a poll interval later', async () => {
    const received: string[] = [];
    const subscription = subscribeWithoutPolling('horizon', received);
    await subscription.start();
    try {
      const event = await appendHeldBack(async (held) => {
        // Longer than the first quick looks after the notification (they found nothing readable).
        await delay(2_000);
        assert.equal(received.includes(held.eventId), false, 'not readable while the older transaction runs');
      });
      await deliveredSoon(received, event);
    } finally {
      await subscription.stop();
    }
  });

  it('a leader that never heard the notification of a held-back event (it took the lock after the commit) delivers it once readable, not a poll interval later', async () => {
    const received: string[] = [];
    let subscription: Subscription | undefined;
    try {
      // Committed and notified while no subscription of this name listens: a standby taking over, or
      // a leader taking its lock back after losing its connection, misses the notification this way.
      const event = await appendHeldBack(async (held) => {
        subscription = subscribeWithoutPolling('late-leader', received);
        await subscription.start();
        assert.equal(subscription.isLeader, true);
        await delay(500);
        assert.equal(received.includes(held.eventId), false, 'not readable while the older transaction runs');
      });
      await deliveredSoon(received, event);
    } finally {
      await subscription?.stop();
    }
  });

  it('a held-back event whose notification came while the leader was still catching up is delivered once readable', async () => {
    // Two readable events read one at a time; the leader is held inside the first while the third is
    // appended behind an older transaction, so its notification wakes a read that finds the second.
    const [first, second] = await appendMany(uniqueName('room'), 2);
    const received: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding = false;
    const subscription = subscribe({
      name: uniqueName('catching-up'),
      pollIntervalMs: 3_600_000,
      batchSize: 1,
      handle: async (events) => {
        if (events.some((e) => e.eventId === first)) {
          holding = true;
          await released;
        }
        received.push(...events.map((e) => e.eventId));
      },
    });
    const listener = await database.connect();
    try {
      await subscription.start();
      await eventually(() => holding, { message: 'the leader inside the first event', timeoutMs: 40_000 });
      await listener.query(`listen ${listener.escapeIdentifier(notificationChannel(database.schema))}`);
      const heard = new Promise<void>((resolve) => listener.once('notification', () => resolve()));
      const event = await appendHeldBack(async (held) => {
        // The notification reached this process (the leader's connection hears it at the same commit).
        await heard;
        release();
        await eventually(() => received.includes(second!), { message: 'the second event read' });
        await delay(500);
        assert.equal(received.includes(held.eventId), false, 'not readable while the older transaction runs');
      });
      await deliveredSoon(received, event);
    } finally {
      release();
      await listener.end();
      await subscription.stop();
    }
  });

  it('transactional mode: effects and checkpoint commit together, a failing handler is retried with backoff, each effect happens once', async () => {
    const name = uniqueName('tx');
    const stream = uniqueName('room');
    const ids = await appendMany(stream, 30);
    const attempts: number[] = [];
    let failed = false;
    let failedAt = -1;
    const subscription = subscribe({
      name,
      mode: 'transactional',
      batchSize: 10,
      eventTypes: ['message.posted'],
      handle: async (events, trx) => {
        attempts.push(Date.now());
        // The log also holds the other tests' events: this test's effects are its own stream's.
        for (const event of events.filter((e) => e.streamId === stream)) {
          await sql`insert into effects (name, event_id) values (${name}, ${event.eventId})`.execute(trx!);
        }
        // Fails after writing its effects once: they must roll back with the batch.
        if (!failed && events.some((e) => e.eventId === ids[15])) {
          failed = true;
          failedAt = attempts.length - 1;
          throw new Error('handler fails once');
        }
      },
    });
    await subscription.start();
    const effects = async (): Promise<string[]> =>
      (
        await sql<{ event_id: string }>`select event_id from effects where name = ${name}`.execute(
          database.db,
        )
      ).rows.map((r) => r.event_id);
    await eventually(async () => (await effects()).length >= ids.length, { message: 'all effects' });
    await delay(200);
    const done = await effects();
    assert.equal(done.length, ids.length, 'each effect exactly once');
    assert.deepEqual(new Set(done), new Set(ids));
    assert.ok(failed);
    // The retry came after a backoff, not in a tight loop.
    const retryGap = attempts[failedAt + 1]! - attempts[failedAt]!;
    assert.ok(retryGap >= 50, `retried after ${retryGap} ms`);
    await subscription.stop();
  });

  it('stop() lets the batch in progress finish and saves its checkpoint', async () => {
    const name = uniqueName('graceful');
    const ids = await appendMany(uniqueName('room'), 5);
    let started = false;
    let finished = false;
    const subscription = subscribe({
      name,
      handle: async (events) => {
        // The batch that holds this test's last event (other test files' transactions may hold the
        // horizon back, so it need not be the first batch).
        if (!events.some((e) => e.eventId === ids.at(-1))) return;
        started = true;
        await delay(300);
        finished = true;
      },
    });
    await subscription.start();
    await eventually(() => started, { message: 'a batch in progress' });
    await subscription.stop();
    assert.equal(finished, true);
    const { rows } = await sql<{ event_id: string }>`
      select metadata ->> 'eventId' as event_id from events
      where (transaction_id, global_position) <= (
        select transaction_id, global_position from subscription_checkpoints where name = ${name})`.execute(
      database.db,
    );
    assert.ok(
      rows.some((r) => r.event_id === ids.at(-1)),
      'the checkpoint covers the finished batch',
    );
  });

  it('runs in one instance at a time; the leader that loses its lock connection stops, and the standby takes over', async () => {
    const name = uniqueName('lead');
    const handledBy = new Map<string, Set<string>>([
      ['a', new Set()],
      ['b', new Set()],
    ]);
    const handler =
      (who: string) =>
      async (events: readonly RecordedEvent[]): Promise<void> => {
        for (const e of events) handledBy.get(who)!.add(e.eventId);
      };
    const a = subscribe({ name, handle: handler('a') });
    const b = subscribe({ name, handle: handler('b') });
    await a.start();
    await b.start();
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    await appendMany(uniqueName('room'), 10);
    await eventually(() => handledBy.get('a')!.size >= 10, { message: 'the leader handling' });
    await delay(300);
    assert.equal(handledBy.get('b')!.size, 0, 'the standby handles nothing');

    // Kill the leader's lock session from the server side.
    await sql`
      select pg_terminate_backend(l.pid) from pg_locks l
      where l.locktype = 'advisory' and l.granted
        and ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(${`${database.schema}:${name}`}, 0)`.execute(
      database.db,
    );
    await eventually(() => b.isLeader, { message: 'the standby taking over', timeoutMs: 5_000 });
    assert.equal(a.isLeader, false, 'the former leader stopped leading');
    const more = await appendMany(uniqueName('room'), 10);
    await eventually(() => more.every((id) => handledBy.get('b')!.has(id)), {
      message: 'the new leader handling',
    });
    assert.ok(
      more.every((id) => !handledBy.get('a')!.has(id)),
      'the former leader handles nothing more',
    );
    await a.stop();
    await b.stop();
  });

  it('stop() during start() leaves the lock free for another instance', async () => {
    const name = uniqueName('early-stop');
    const handled: string[] = [];
    const a = subscribe({ name, handle: async () => {} });
    const starting = a.start();
    await a.stop();
    await starting;
    assert.equal(a.isLeader, false);
    const b = subscribe({
      name,
      handle: async (events) => void handled.push(...events.map((e) => e.eventId)),
    });
    await b.start();
    assert.equal(b.isLeader, true, 'the lock was released');
    const ids = await appendMany(uniqueName('room'), 3);
    await eventually(() => ids.every((id) => handled.includes(id)), {
      message: 'the second instance handling',
    });
    await b.stop();
  });
});
