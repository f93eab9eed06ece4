import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabase, sql } from '@veche/db';
import { isVecheError } from '@veche/errors';
import { withCorrelationId } from '@veche/log';
import { eventually, scaledMs, type TestDatabase } from '@veche/testing';
import {
  createEventStore,
  type EventStore,
  type InlineProjection,
  type RecordedEvent,
} from '../src/index.ts';
import { migratedDatabase, testLog } from './setup.ts';

let database: TestDatabase;
let store: EventStore;
let stream = 0;
const newStream = (): string => `room-${++stream}`;

const conflictDetails = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    assert.ok(isVecheError(error, 'conflict'), `expected a conflict, got ${String(error)}`);
    return error.details;
  }
  assert.fail('expected a conflict');
};

before(async () => {
  database = await migratedDatabase(import.meta.filename, 5);
  await sql`create table room_counts (room text primary key, posted int not null)`.execute(database.db);
  store = createEventStore({ database, log: testLog() });
});
after(async () => {
  await store.close();
  await database.drop();
});

describe('event store appends', () => {
  it('appends events with versions from 1 and reads the stream back in order', async () => {
    const id = newStream();
    const first = await store.append(id, [
      { type: 'room.created', data: { name: 'general' } },
      { type: 'message.posted', data: { text: 'hi' } },
    ]);
    assert.equal(first.nextVersion, 2);
    assert.deepEqual(
      first.events.map((e) => e.streamVersion),
      [1, 2],
    );
    assert.ok(first.events[0]!.globalPosition < first.events[1]!.globalPosition);
    const second = await store.append(id, [{ type: 'message.posted', data: { text: 'again' } }]);
    assert.equal(second.nextVersion, 3);

    const read = await store.readStream(id);
    assert.deepEqual(
      read.map((e) => [e.streamVersion, e.type, e.data]),
      [
        [1, 'room.created', { name: 'general' }],
        [2, 'message.posted', { text: 'hi' }],
        [3, 'message.posted', { text: 'again' }],
      ],
    );
    assert.deepEqual(
      read.map((e) => e.eventId),
      [...first.events, ...second.events].map((e) => e.eventId),
    );
    assert.equal(read[0]!.transactionId, first.events[0]!.transactionId);
    assert.deepEqual(
      (await store.readStream(id, { fromVersion: 2, limit: 1 })).map((e) => e.streamVersion),
      [2],
    );
    assert.equal(await store.streamVersion(id), 3);
    assert.equal(await store.streamVersion(newStream()), 0);
    assert.deepEqual(await store.readStream(newStream()), []);
  });

  it('fills metadata: eventId v7, occurredAt, actor, and correlation from the context or the log context', async () => {
    const id = newStream();
    const { events } = await store.append(
      id,
      [
        { type: 'a', data: 1 },
        { type: 'b', data: 2, metadata: { actor: 'user-9' } },
      ],
      {
        actor: 'user-1',
        causationId: 'request-7',
      },
    );
    const [a, b] = events;
    assert.match(a!.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a!.eventId, b!.eventId);
    assert.equal(a!.metadata.actor, 'user-1');
    assert.equal(b!.metadata.actor, 'user-9');
    assert.equal(a!.metadata.causationId, 'request-7');
    assert.equal(a!.metadata.correlationId, b!.metadata.correlationId);
    assert.ok(!Number.isNaN(Date.parse(a!.metadata.occurredAt)));
    const stored = await store.readStream(id);
    assert.deepEqual(stored[1]!.metadata, b!.metadata);

    const ambient = await withCorrelationId('corr-42', () =>
      store.append(newStream(), [{ type: 'c', data: null }]),
    );
    assert.equal(ambient.events[0]!.metadata.correlationId, 'corr-42');
    assert.equal(ambient.events[0]!.metadata.causationId, 'corr-42');
    const explicit = await withCorrelationId('corr-42', () =>
      store.append(newStream(), [{ type: 'c', data: null }], { correlationId: 'corr-1' }),
    );
    assert.equal(explicit.events[0]!.metadata.correlationId, 'corr-1');
  });

  it('checks a numeric expected version and fails with a typed conflict', async () => {
    const id = newStream();
    await store.append(id, [{ type: 'a', data: 1 }], { expectedVersion: 0 });
    await store.append(id, [{ type: 'a', data: 2 }], { expectedVersion: 1 });
    assert.deepEqual(
      await conflictDetails(store.append(id, [{ type: 'a', data: 3 }], { expectedVersion: 1 })),
      {
        streamId: id,
        expected: 1,
        actual: 2,
      },
    );
    assert.deepEqual(
      await conflictDetails(store.append(id, [{ type: 'a', data: 3 }], { expectedVersion: 5 })),
      {
        streamId: id,
        expected: 5,
        actual: 2,
      },
    );
    assert.equal(await store.streamVersion(id), 2);
    assert.equal((await store.readStream(id)).length, 2);
  });

  it('no_stream accepts only a new stream', async () => {
    const id = newStream();
    await store.append(id, [{ type: 'a', data: 1 }], { expectedVersion: 'no_stream' });
    assert.deepEqual(
      await conflictDetails(store.append(id, [{ type: 'a', data: 1 }], { expectedVersion: 'no_stream' })),
      {
        streamId: id,
        expected: 'no_stream',
        actual: 1,
      },
    );
  });

  it('exists accepts only a stream with events, and version N > 0 never creates a stream', async () => {
    const id = newStream();
    assert.deepEqual(
      await conflictDetails(store.append(id, [{ type: 'a', data: 1 }], { expectedVersion: 'exists' })),
      {
        streamId: id,
        expected: 'exists',
        actual: 0,
      },
    );
    assert.deepEqual(
      await conflictDetails(store.append(id, [{ type: 'a', data: 1 }], { expectedVersion: 3 })),
      {
        streamId: id,
        expected: 3,
        actual: 0,
      },
    );
    assert.equal(await store.streamVersion(id), 0);
    await store.append(id, [{ type: 'a', data: 1 }]);
    const { nextVersion } = await store.append(id, [{ type: 'a', data: 2 }], { expectedVersion: 'exists' });
    assert.equal(nextVersion, 2);
  });

  it('rejects invalid input with a validation error before touching the database', async () => {
    await assert.rejects(store.append('', [{ type: 'a', data: 1 }]), (e) => isVecheError(e, 'validation'));
    await assert.rejects(store.append(newStream(), [{ type: '', data: 1 }]), (e) =>
      isVecheError(e, 'validation'),
    );
    await assert.rejects(store.append(newStream(), [{ type: 'a', data: 1 }], { expectedVersion: -1 }), (e) =>
      isVecheError(e, 'validation'),
    );
  });

  it('group-commits concurrent appends: several share one transaction, each with its own outcome', async () => {
    const streams = Array.from({ length: 40 }, () => newStream());
    const taken = newStream();
    await store.append(taken, [{ type: 'a', data: 0 }]);
    const results = await Promise.allSettled([
      ...streams.map((id, i) => store.append(id, [{ type: 'a', data: i }], { expectedVersion: 'no_stream' })),
      store.append(taken, [{ type: 'a', data: 1 }], { expectedVersion: 'no_stream' }),
    ]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    assert.equal(fulfilled.length, streams.length, 'every append but the conflicting one succeeds');
    const rejected = results.at(-1)!;
    assert.equal(rejected.status, 'rejected');
    assert.ok(isVecheError(rejected.reason, 'conflict'));
    const transactions = new Set(fulfilled.map((r) => r.value.events[0]!.transactionId));
    assert.ok(transactions.size < streams.length / 2, `40 appends took ${transactions.size} transactions`);
  });

  it("keeps the order of one stream's concurrent appends", async () => {
    const id = newStream();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.append(id, [
          { type: 'a', data: i },
          { type: 'b', data: i },
        ]),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.nextVersion),
      Array.from({ length: 30 }, (_, i) => 2 * (i + 1)),
    );
    const read = await store.readStream(id);
    assert.deepEqual(
      read.map((e) => e.data),
      Array.from({ length: 30 }, (_, i) => [i, i]).flat(),
    );
  });

  it('fails only the append whose data PostgreSQL rejects, when it shares a batch', async () => {
    const good = Array.from({ length: 10 }, () => newStream());
    const bad = newStream();
    const results = await Promise.allSettled([
      ...good.map((id) => store.append(id, [{ type: 'a', data: { text: 'fine' } }])),
      // jsonb has no NUL character.
      store.append(bad, [{ type: 'a', data: { text: 'nul \u0000 here' } }]),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, good.length);
    assert.equal(results.at(-1)!.status, 'rejected');
    assert.equal(await store.streamVersion(bad), 0);
  });

  it("appends in the caller's transaction: rolled back with it, committed with it", async () => {
    const id = newStream();
    await assert.rejects(
      database.db.transaction().execute(async (trx) => {
        await store.append(id, [{ type: 'a', data: 1 }], { trx });
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal(await store.streamVersion(id), 0);
    const result = await database.db.transaction().execute(async (trx) => {
      const appended = await store.append(id, [{ type: 'a', data: 1 }], {
        trx,
        expectedVersion: 'no_stream',
      });
      await assert.rejects(store.append(id, [{ type: 'a', data: 2 }], { trx, expectedVersion: 0 }), (e) =>
        isVecheError(e, 'conflict'),
      );
      return appended;
    });
    assert.equal(result.nextVersion, 1);
    assert.equal(await store.streamVersion(id), 1);
  });
});

describe('deadlocks', () => {
  it("a group-commit batch that deadlocks with a caller's transaction is retried and succeeds", async () => {
    // PostgreSQL aborts whichever waiter runs its deadlock check first, and each waiter checks once,
    // deadlock_timeout after it began to wait. The batch must be the victim and find the cycle: it
    // checks after 3 s (× TEST_TIME_SCALE), time for the caller to begin waiting too, and the caller
    // only after 60 s.
    const batchDatabase = createDatabase({
      ...database.options,
      poolSize: 2,
      sessionSettings: { deadlock_timeout: `${scaledMs(1_000)}ms` },
    });
    // One writer, so the two appends below queue behind the first and share the next batch.
    const single = createEventStore({ database: batchDatabase, log: testLog(), maxConcurrentBatches: 1 });
    const a = `dl-a-${newStream()}`;
    const b = `dl-b-${newStream()}`;
    await store.append(a, [{ type: 'x', data: 0 }]);
    await store.append(b, [{ type: 'x', data: 0 }]);
    try {
      const callerDone = database.db.transaction().execute(async (trx) => {
        await sql`set local deadlock_timeout = '60s'`.execute(trx);
        await store.append(b, [{ type: 'caller', data: 1 }], { trx }); // holds b
        const callerPid = (await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx)).rows[0]!
          .pid;
        const batch = Promise.all([
          single.append(newStream(), [{ type: 'x', data: 'ahead' }]),
          // 'exists': the batch goes straight to locking a then b (no stream to create first).
          single.append(a, [{ type: 'batch', data: 2 }], { expectedVersion: 'exists' }),
          single.append(b, [{ type: 'batch', data: 3 }], { expectedVersion: 'exists' }),
        ]);
        // The batch holds a and waits for b: wait until PostgreSQL shows a backend blocked on a lock.
        await eventually(
          async () =>
            (
              await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
                where ${callerPid}::int = any(pg_blocking_pids(pid))`.execute(database.db)
            ).rows[0]!.n > 0,
          { message: 'the batch waiting for b', timeoutMs: 10_000 },
        );
        await store.append(a, [{ type: 'caller', data: 4 }], { trx }); // waits for a: a deadlock
        // Not awaited here: the retried batch waits for this transaction's commit.
        return { batch };
      });
      const results = await (await callerDone).batch;
      assert.equal(results.length, 3);
      assert.deepEqual(
        (await store.readStream(a)).map((e) => e.type),
        ['x', 'caller', 'batch'],
        'the batch, the deadlock victim, was retried after the caller committed',
      );
      assert.deepEqual(
        (await store.readStream(b)).map((e) => e.type),
        ['x', 'caller', 'batch'],
      );
    } finally {
      await single.close();
      await batchDatabase.close();
    }
  });
});

describe('inline projections', () => {
  let projected: EventStore;
  const seen: RecordedEvent[] = [];
  const counts: InlineProjection = {
    name: 'room_counts',
    eventTypes: ['message.posted'],
    async apply(trx, events) {
      for (const event of events) {
        seen.push(event);
        if ((event.data as { text?: string }).text === 'boom') throw new Error('projection refuses boom');
        await sql`
          insert into room_counts (room, posted) values (${event.streamId}, 1)
          on conflict (room) do update set posted = room_counts.posted + 1`.execute(trx);
      }
    },
    async reset(trx) {
      await sql`truncate room_counts`.execute(trx);
    },
  };
  const posted = async (room: string): Promise<number | undefined> =>
    (await sql<{ posted: number }>`select posted from room_counts where room = ${room}`.execute(database.db))
      .rows[0]?.posted;

  before(() => {
    projected = createEventStore({ database, log: testLog(), inlineProjections: [counts] });
  });
  after(async () => {
    await projected.close();
  });

  it("updates the read model in the append's transaction, only for its event types", async () => {
    const id = newStream();
    await projected.append(id, [
      { type: 'room.created', data: {} },
      { type: 'message.posted', data: { text: 'a' } },
    ]);
    assert.equal(await posted(id), 1);
    assert.ok(seen.every((e) => e.type === 'message.posted'));
  });

  it('a failing projection fails only its own append, and its events are not stored', async () => {
    const rooms = Array.from({ length: 12 }, () => newStream());
    const guilty = newStream();
    const results = await Promise.allSettled([
      ...rooms.map((id) => projected.append(id, [{ type: 'message.posted', data: { text: 'ok' } }])),
      projected.append(guilty, [{ type: 'message.posted', data: { text: 'boom' } }]),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, rooms.length);
    const failed = results.at(-1)!;
    assert.equal(failed.status, 'rejected');
    assert.match(String((failed.reason as Error).message), /refuses boom/);
    for (const id of rooms) assert.equal(await posted(id), 1, `room ${id} counted once`);
    assert.equal(await posted(guilty), undefined);
    assert.equal(await projected.streamVersion(guilty), 0);
  });

  it("a failing projection in the caller's transaction fails the append there", async () => {
    const id = newStream();
    await assert.rejects(
      database.db
        .transaction()
        .execute((trx) =>
          projected.append(id, [{ type: 'message.posted', data: { text: 'boom' } }], { trx }),
        ),
      /refuses boom/,
    );
    assert.equal(await projected.streamVersion(id), 0);
  });
});
