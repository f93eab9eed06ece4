import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from '@veche/db';
import { eventually, type TestDatabase } from '@veche/testing';
import {
  compareCheckpoints,
  createEventStore,
  zeroCheckpoint,
  type Checkpoint,
  type EventStore,
  type RecordedEvent,
} from '../src/index.ts';
import { migratedDatabase, testLog } from './setup.ts';

let database: TestDatabase;
let store: EventStore;

async function readEverything(from: Checkpoint = zeroCheckpoint): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let checkpoint = from;
  for (;;) {
    const page = await store.readAll(checkpoint, { limit: 500 });
    if (page.events.length === 0) return events;
    events.push(...page.events);
    checkpoint = page.checkpoint;
  }
}

describe('readAll', () => {
  before(async () => {
    database = await migratedDatabase(import.meta.filename, 6);
    store = createEventStore({ database, log: testLog() });
  });
  after(async () => {
    await store.close();
    await database.drop();
  });

  it('a reader following the log under concurrent writers sees every event exactly once, in one consistent order, even from a transaction that commits after later positions', async () => {
    const appended = new Set<string>();
    let writing = true;

    // The held transaction: takes a position, then stays open while later positions commit.
    let heldEventId: string | undefined;
    let heldPosition = Number.POSITIVE_INFINITY;
    let heldTransactionId = '0';
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = database.db.transaction().execute(async (trx) => {
      const { events } = await store.append('held-stream', [{ type: 'held', data: {} }], { trx });
      heldEventId = events[0]!.eventId;
      heldPosition = events[0]!.globalPosition;
      heldTransactionId = events[0]!.transactionId;
      await released;
    });
    const naiveSeen = new Set<string>();
    const seen: RecordedEvent[] = [];
    let checkpoint = zeroCheckpoint;
    try {
      await eventually(() => heldEventId !== undefined, { message: 'the held append' });

      // A reader that trusts global_position alone, to show the race is real in this run.
      let naiveLast = 0;
      const naiveRead = async (): Promise<void> => {
        const { rows } = await sql<{ global_position: number; event_id: string }>`
          select global_position, metadata ->> 'eventId' as event_id from events
          where global_position > ${naiveLast} order by global_position limit 200`.execute(database.db);
        for (const row of rows) naiveSeen.add(row.event_id);
        naiveLast = rows.at(-1)?.global_position ?? naiveLast;
      };

      const follow = async (): Promise<void> => {
        const page = await store.readAll(checkpoint, { limit: 37 });
        assert.ok(compareCheckpoints(page.checkpoint, checkpoint) >= 0, 'the checkpoint never moves back');
        seen.push(...page.events);
        checkpoint = page.checkpoint;
      };
      const reader = (async () => {
        while (writing) {
          await follow();
          await naiveRead();
          await delay(3);
        }
      })();

      const groupWriters = Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; writing; i++) {
          const count = 1 + (i % 3);
          const { events } = await store.append(
            `room-${w}-${i % 5}`,
            Array.from({ length: count }, (_, k) => ({ type: 'message.posted', data: { w, i, k } })),
          );
          for (const event of events) appended.add(event.eventId);
        }
      });
      // Appends in callers' transactions that stay open a little while: commit order ≠ position order.
      const transactionWriter = (async () => {
        for (let i = 0; writing; i++) {
          const ids = await database.db.transaction().execute(async (trx) => {
            const { events } = await store.append(
              `tx-room-${i % 3}`,
              [{ type: 'message.posted', data: { i } }],
              { trx },
            );
            await delay(i % 7);
            return events.map((e) => e.eventId);
          });
          for (const id of ids) appended.add(id);
        }
      })();

      // Commit the held transaction only once the naive reader went past its position.
      await eventually(
        async () => {
          const { rows } = await sql<{ later: number }>`
            select count(*)::int as later from events where global_position > ${heldPosition}`.execute(
            database.db,
          );
          return rows[0]!.later >= 200 && naiveLast > heldPosition;
        },
        { message: 'later events committed and read past by the naive reader', timeoutMs: 20_000 },
      );
      // The follower is held at the open transaction: nothing from a newer one reached it yet.
      assert.ok(!seen.some((e) => BigInt(e.transactionId) > BigInt(heldTransactionId)));
      release();
      await held;
      appended.add(heldEventId!);
      await delay(300);
      writing = false;
      await Promise.all([...groupWriters, transactionWriter, reader]);

      await eventually(
        async () => {
          await follow();
          return seen.length >= appended.size;
        },
        { message: 'the reader catching up', timeoutMs: 20_000 },
      );
      await follow();
    } finally {
      // A failure above must not leave the held transaction open: dropping the schema would wait on it.
      writing = false;
      release();
      await held.catch(() => {});
    }
    const ids = seen.map((e) => e.eventId);
    assert.equal(new Set(ids).size, ids.length, 'no event delivered twice');
    assert.deepEqual(new Set(ids), appended, 'every appended event delivered');
    assert.ok(ids.includes(heldEventId!), 'the late-committing event delivered');
    assert.ok(!naiveSeen.has(heldEventId!), 'the naive position-only reader skipped it: the race happened');

    // Deterministic: one read from zero gives the same sequence the follower saw piece by piece.
    const fresh = await readEverything();
    assert.deepEqual(
      fresh.map((e) => e.eventId),
      ids,
    );
    for (let i = 1; i < seen.length; i++) assert.ok(compareCheckpoints(seen[i - 1]!, seen[i]!) < 0);
  });

  it('returns the input checkpoint when nothing new is committed', async () => {
    const events = await readEverything();
    const last = events.at(-1)!;
    const end = { transactionId: last.transactionId, globalPosition: last.globalPosition };
    const page = await store.readAll(end);
    assert.deepEqual(page, { events: [], checkpoint: end, pending: false });
  });

  it('says when committed events wait behind an older transaction, and of the types asked for only', async () => {
    // Everything so far read (other test files' transactions may hold the horizon back a moment).
    let start = zeroCheckpoint;
    await eventually(async () => {
      const result = await store.readAll(start, { limit: 1_000_000 });
      start = result.checkpoint;
      return result.events.length === 0 && !result.pending;
    });
    const blocker = await database.pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('select pg_current_xact_id()');
      const { events } = await store.append('pending', [{ type: 'wanted', data: 1 }]);
      const page = await store.readAll(start);
      assert.deepEqual(page, { events: [], checkpoint: start, pending: true });
      assert.equal((await store.readAll(start, { eventTypes: ['wanted'] })).pending, true);
      assert.equal((await store.readAll(start, { eventTypes: ['other'] })).pending, false);
      await blocker.query('commit');
      // Other test files' transactions on this shared server may hold the horizon a moment longer.
      const read = await eventually(async () => {
        const result = await store.readAll(start);
        return result.events.length > 0 ? result : undefined;
      });
      assert.deepEqual(
        read.events.map((e) => e.eventId),
        [events[0]!.eventId],
      );
      assert.equal(read.pending, false);
    } finally {
      await blocker.query('rollback').catch(() => {});
      blocker.release();
    }
  });

  it('filters by event type and moves the checkpoint past events of other types', async () => {
    const start = (await store.readAll(zeroCheckpoint, { limit: 1_000_000 })).checkpoint;
    await store.append('typed', [
      { type: 'wanted', data: 1 },
      { type: 'other', data: 2 },
      { type: 'wanted', data: 3 },
    ]);
    await store.append('typed', [{ type: 'other', data: 4 }]);
    // Both transactions below the horizon (other test files' transactions may hold it back a moment).
    const all = await eventually(async () => {
      const result = await store.readAll(start);
      return result.events.length === 4 ? result : undefined;
    });
    const page = await store.readAll(start, { eventTypes: ['wanted'] });
    assert.deepEqual(
      page.events.map((e) => e.data),
      [1, 3],
    );
    assert.deepEqual(page.checkpoint, all.checkpoint, 'past the trailing event of another type');
    assert.deepEqual((await store.readAll(page.checkpoint, { eventTypes: ['wanted'] })).events, []);
    const limited = await store.readAll(start, { eventTypes: ['wanted'], limit: 1 });
    assert.deepEqual(
      limited.events.map((e) => e.data),
      [1],
    );
    assert.deepEqual(limited.checkpoint, {
      transactionId: limited.events[0]!.transactionId,
      globalPosition: limited.events[0]!.globalPosition,
    });
  });
});
