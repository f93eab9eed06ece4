import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from '@veche/db';
import { eventually, type TestDatabase } from '@veche/testing';
import {
  createEventStore,
  createProjectionRunner,
  rebuildProjection,
  type AsyncProjection,
  type EventStore,
  type Subscription,
} from '../src/index.ts';
import { migratedDatabase, testLog } from './setup.ts';

let database: TestDatabase;
let store: EventStore;
let runner: Subscription;
let applied = 0;

/** Messages and the last sender per room: order-sensitive, so a replay in the wrong order shows. */
const roomActivity: AsyncProjection = {
  name: 'room_activity',
  eventTypes: ['message.posted'],
  async apply(trx, events) {
    for (const event of events) {
      applied += 1;
      const { sender } = event.data as { sender: string };
      await sql`
        insert into room_activity (room, messages, last_sender) values (${event.streamId}, 1, ${sender})
        on conflict (room) do update set messages = room_activity.messages + 1, last_sender = excluded.last_sender`.execute(
        trx,
      );
    }
  },
  async reset(trx) {
    await sql`delete from room_activity`.execute(trx);
  },
};

const snapshot = async (): Promise<unknown[]> =>
  (await sql`select room, messages, last_sender from room_activity order by room`.execute(database.db)).rows;

describe('async projections', () => {
  before(async () => {
    database = await migratedDatabase(import.meta.filename, 5);
    await sql`create table room_activity (room text primary key, messages int not null, last_sender text not null)`.execute(
      database.db,
    );
    store = createEventStore({ database, log: testLog() });
    runner = createProjectionRunner(roomActivity, {
      database,
      store,
      log: testLog(),
      batchSize: 25,
      pollIntervalMs: 100,
      leaseRetryMs: 100,
    });
    await runner.start();
  });
  after(async () => {
    await runner.stop();
    await store.close();
    await database.drop();
  });

  it('follows the log, and a rebuild from zero gives the same read model as the original run', async () => {
    let expected = 0;
    for (let i = 0; i < 120; i++) {
      await store.append(`room-${i % 6}`, [
        { type: 'message.posted', data: { sender: `user-${i % 5}` } },
        { type: 'room.renamed', data: { name: `n${i}` } },
      ]);
      expected += 1;
    }
    const caughtUp = async (): Promise<unknown[] | undefined> => {
      const rows = (
        await sql<{
          total: number;
        }>`select coalesce(sum(messages), 0)::int as total from room_activity`.execute(database.db)
      ).rows;
      return rows[0]!.total === expected ? snapshot() : undefined;
    };
    const original = await eventually(caughtUp, { message: 'the projection caught up' });
    assert.equal(original.length, 6);
    assert.equal(applied, expected, 'each event applied once');

    applied = 0;
    await rebuildProjection({ database, projection: roomActivity });
    const rebuilt = await eventually(caughtUp, { message: 'the rebuild caught up' });
    assert.deepEqual(rebuilt, original);
    assert.equal(applied, expected, 'the rebuild replayed every event once, from zero');
    const checkpoint = await runner.checkpoint();
    assert.notEqual(checkpoint.globalPosition, 0);
  });
});
