/**
 * Rebuilding read models from the log: the rebuild gives exactly what the appends built, repairs a
 * damaged read model, holds appends back until it commits (an append made meanwhile waits, then
 * applies once, after the replay), and the command around it answers --help, refuses bad usage and
 * rebuilds a schema as a real process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from '@veche/db';
import { eventually, testDatabaseUrl, type TestDatabase } from '@veche/testing';
import { createEventStore, rebuildReadModels, type EventStore, type InlineProjection } from '../src/index.ts';
import { roomActivity } from './fixtures/read-models.ts';
import { migratedDatabase, testLog } from './setup.ts';

const command = fileURLToPath(new URL('../bin/rebuild-read-models.ts', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/read-models.ts', import.meta.url));

let database: TestDatabase;
let store: EventStore;

const snapshot = async (): Promise<unknown[]> =>
  (await sql`select room, messages, last_sender from room_activity order by room`.execute(database.db)).rows;

describe('rebuilding read models', () => {
  before(async () => {
    database = await migratedDatabase(import.meta.filename, 6);
    await sql`create table room_activity (room text primary key, messages int not null, last_sender text not null)`.execute(
      database.db,
    );
    store = createEventStore({ database, log: testLog(), inlineProjections: [roomActivity] });
    for (let i = 0; i < 150; i++) {
      await store.append(`room-${i % 7}`, [
        { type: 'message.posted', data: { sender: `user-${(i * 3) % 5}` } },
        { type: 'room.renamed', data: { name: `n${i}` } },
      ]);
    }
  });
  after(async () => {
    await store.close();
    await database.drop();
  });

  it('gives back what the appends built, and repairs a damaged read model', async () => {
    const original = await snapshot();
    assert.equal(original.length, 7);
    await sql`update room_activity set messages = 0, last_sender = 'nobody' where room = 'room-3'`.execute(
      database.db,
    );
    await sql`delete from room_activity where room = 'room-5'`.execute(database.db);
    const progress: number[] = [];
    const result = await rebuildReadModels({
      database,
      projections: [roomActivity],
      batchSize: 40,
      onProgress: ({ events }) => progress.push(events),
    });
    assert.deepEqual(result, { events: 300, projections: ['room_activity'] });
    assert.deepEqual(progress, [40, 80, 120, 160, 200, 240, 280, 300]);
    assert.deepEqual(await snapshot(), original);
  });

  it('holds appends back until it commits; an append made meanwhile applies once, after the replay', async () => {
    const before = await snapshot();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let replaying: () => void = () => {};
    const started = new Promise<void>((resolve) => (replaying = resolve));
    // The same projection, paused in the middle of the replay until the test lets it go.
    const paused: InlineProjection = {
      ...roomActivity,
      async apply(trx, events) {
        replaying();
        await held;
        await roomActivity.apply(trx, events);
      },
    };
    const rebuild = rebuildReadModels({ database, projections: [paused] });
    await started;
    const append = store.append('room-0', [{ type: 'message.posted', data: { sender: 'late' } }]);
    await eventually(
      async () => {
        const { rows } = await sql<{ n: string }>`
          select count(*) as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query like '%event_store_append%'`.execute(
          database.db,
        );
        return Number(rows[0]?.n) > 0;
      },
      { message: 'the append waits for the rebuild’s lock' },
    );
    release();
    await rebuild;
    await append;
    const after = (await snapshot()) as { room: string; messages: number; last_sender: string }[];
    const room0Before = (before as typeof after).find((r) => r.room === 'room-0')!;
    assert.deepEqual(
      after.find((r) => r.room === 'room-0'),
      { room: 'room-0', messages: room0Before.messages + 1, last_sender: 'late' },
    );
  });

  it('is one command: --help, bad usage, and a rebuild as a real process', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [command, ...args], {
        encoding: 'utf8',
        env: { ...process.env, DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'warn' },
      });
    const help = run(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--read-models MODULE/);
    assert.equal(run([]).status, 2);
    assert.equal(run(['--read-models', fixture]).status, 2);
    assert.equal(run(['--read-models', command, '--schema', database.schema]).status, 2);
    assert.equal(run(['--read-models', fixture, '--schema', database.schema, '--batch-size', 'x']).status, 2);
    const rebuilt = run(['--read-models', fixture, '--schema', database.schema]);
    assert.equal(rebuilt.status, 0, rebuilt.stderr);
    assert.match(rebuilt.stdout, /^301 events replayed into room_activity in [0-9.]+ s$/m);
  });
});
