/**
 * The single-append function (`event_store_append_one`, migration 003): a database made before it
 * existed takes it on upgrade, and two writers that race for one stream's row (two replicas, so no
 * shared in-process queue keeps them apart) are checked against the version each finds under the lock.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, sql, type Migrations } from '@veche/db';
import { isVecheError } from '@veche/errors';
import { createTestDatabase, eventually, type TestDatabase } from '@veche/testing';
import {
  createEventStore,
  eventStoreMigrations,
  zeroCheckpoint,
  type EventStore,
  type RecordedEvent,
} from '../src/index.ts';
import { testLog } from './setup.ts';

let database: TestDatabase;
let store: EventStore;
let other: EventStore;

/** A service's own migration, run before the event store's migration 003 existed. */
const serviceMigrations: Migrations = {
  '0001-service': {
    up: async (db) => {
      await sql`create table service_things (id int primary key)`.execute(db);
    },
  },
};

const withoutAppendOne = Object.fromEntries(
  Object.entries(eventStoreMigrations).filter(
    ([name]) => !name.startsWith('0000.event-store.003') && !name.startsWith('0000.event-store.004'),
  ),
);

before(async () => {
  database = await createTestDatabase({ name: import.meta.filename, poolSize: 6 });
});
after(async () => {
  await store?.close();
  await other?.close();
  await database.drop();
});

describe('event_store_append_one', () => {
  it("upgrades a database whose service migrations already ran, and appends continue the old log's streams", async () => {
    await migrate(database, { ...withoutAppendOne, ...serviceMigrations });
    // Written by the set-based function, as every append was before the upgrade.
    await sql`select * from event_store_append(${JSON.stringify([
      { s: 'old-stream', k: 'version', v: 0, e: [{ t: 'a', d: 1, m: { eventId: 'e1' } }] },
    ])}::jsonb)`.execute(database.db);

    const { applied } = await migrate(database, { ...eventStoreMigrations, ...serviceMigrations });
    assert.deepEqual(applied, ['0000.event-store.003-append-one', '0000.event-store.004-shared-metadata']);

    store = createEventStore({ database, log: testLog() });
    other = createEventStore({ database, log: testLog() });
    const { nextVersion, events } = await store.append('old-stream', [{ type: 'b', data: 2 }], {
      expectedVersion: 1,
    });
    assert.equal(nextVersion, 2);
    const read = await store.readStream('old-stream');
    assert.deepEqual(
      read.map((e) => [e.streamVersion, e.type, e.globalPosition]),
      [
        [1, 'a', read[0]!.globalPosition],
        [2, 'b', events[0]!.globalPosition],
      ],
    );
    assert.ok(events[0]!.globalPosition > read[0]!.globalPosition);
    // The old row keeps its whole metadata in the row; the new one shares its append's.
    assert.deepEqual(read[0]!.metadata, { eventId: 'e1' });
    assert.deepEqual(read[1]!.metadata, events[0]!.metadata);
    await assert.rejects(store.append('old-stream', [{ type: 'c', data: 3 }], { expectedVersion: 1 }), (e) =>
      isVecheError(e, 'conflict'),
    );
  });

  it('returns positions in version order and reports the version found on a conflict', async () => {
    const { events } = await store.append(
      'ordered',
      Array.from({ length: 50 }, (_, i) => ({ type: 't', data: i })),
      { expectedVersion: 'no_stream' },
    );
    const read = await store.readStream('ordered');
    assert.deepEqual(
      events.map((e) => [e.streamVersion, e.globalPosition]),
      read.map((e) => [e.streamVersion, e.globalPosition]),
    );
    await assert.rejects(
      store.append('ordered', [{ type: 't', data: 'late' }], { expectedVersion: 49 }),
      (e) => isVecheError(e, 'conflict') && (e.details as { actual: number }).actual === 50,
    );
    // An empty append moves nothing and writes nothing.
    assert.equal((await store.append('ordered', [], { expectedVersion: 50 })).nextVersion, 50);
    assert.equal(await store.streamVersion('ordered'), 50);
  });

  it("stores an append's shared metadata once and reads every event's whole metadata back", async () => {
    const { events } = await store.append(
      'shared',
      [
        { type: 'a', data: 1 },
        { type: 'b', data: 2, metadata: { extra: [1, 2] } },
        { type: 'c', data: null, metadata: { actor: 'someone-else' } },
        { type: 'd', data: 4 },
      ],
      { expectedVersion: 'no_stream', actor: 'user-1', correlationId: 'corr-1' },
    );
    const rows = await sql<{ type: string; metadata: Record<string, unknown>; shared: boolean }>`
      select type, metadata, shared_id is not null as shared from events where stream_id = 'shared'
      order by stream_version`.execute(database.db);
    // a and d: their eventId only, the rest in one shared row; b and c: their own metadata, whole.
    assert.deepEqual(
      rows.rows.map((row) => [row.type, Object.keys(row.metadata).sort(), row.shared]),
      [
        ['a', ['eventId'], true],
        ['b', ['actor', 'causationId', 'correlationId', 'eventId', 'extra', 'occurredAt'], false],
        ['c', ['actor', 'causationId', 'correlationId', 'eventId', 'occurredAt'], false],
        ['d', ['eventId'], true],
      ],
    );
    const expected = events.map((event) => event.metadata);
    assert.equal(expected[0]!.actor, 'user-1');
    assert.equal(expected[2]!.actor, 'someone-else');
    assert.deepEqual(
      (await store.readStream('shared')).map((event) => event.metadata),
      expected,
    );
    // readAll returns rows below the oldest running transaction: the shared server's other suites may
    // hold one for a moment.
    const readAllOf = async (eventTypes?: string[]) => {
      let found: RecordedEvent[] = [];
      await eventually(
        async () => {
          const { events: read } = await store.readAll(
            zeroCheckpoint,
            eventTypes ? { limit: 10_000, eventTypes } : { limit: 10_000 },
          );
          found = read.filter((event) => event.streamId === 'shared');
          return found.length === (eventTypes ? 1 : 4);
        },
        { message: 'the appended events below the horizon' },
      );
      return found.map((event) => event.metadata);
    };
    assert.deepEqual(await readAllOf(), expected);
    assert.deepEqual(await readAllOf(['d']), [expected[3]]);
    // In a caller's transaction the same function runs.
    const [inTrx] = await database.db
      .transaction()
      .execute(
        async (trx) =>
          (await store.append('shared', [{ type: 'e', data: 5 }], { expectedVersion: 4, trx })).events,
      );
    assert.deepEqual((await store.readStream('shared', { fromVersion: 5 }))[0]!.metadata, inTrx!.metadata);
  });

  it('two replicas appending to one stream at one expected version while its row is locked: exactly one wins', async () => {
    await store.append('contended', [{ type: 't', data: 0 }], { expectedVersion: 'no_stream' });
    const outcome = async (append: Promise<unknown>): Promise<'ok' | 'conflict'> => {
      try {
        await append;
        return 'ok';
      } catch (error) {
        if (isVecheError(error, 'conflict')) return 'conflict';
        throw error;
      }
    };
    let racers: Promise<'ok' | 'conflict'>[] = [];
    await database.db.transaction().execute(async (trx) => {
      // Holds the stream's row: both appends reach their UPDATE and wait on it.
      await sql`select 1 from streams where stream_id = 'contended' for update`.execute(trx);
      racers = [
        outcome(store.append('contended', [{ type: 'mine', data: 1 }], { expectedVersion: 1 })),
        outcome(other.append('contended', [{ type: 'theirs', data: 1 }], { expectedVersion: 1 })),
      ];
      await eventually(
        async () =>
          (
            await sql<{ n: number }>`
              select count(*)::int as n from pg_locks l join pg_stat_activity a using (pid)
              where not l.granted and a.application_name = ${`test:${database.schema}`}`.execute(database.db)
          ).rows[0]!.n >= 2,
        { message: 'both appends waiting on the stream row' },
      );
    });
    assert.deepEqual((await Promise.all(racers)).sort(), ['conflict', 'ok']);
    const read = await store.readStream('contended');
    assert.equal(read.length, 2);
    assert.equal(await store.streamVersion('contended'), 2);
  });
});
