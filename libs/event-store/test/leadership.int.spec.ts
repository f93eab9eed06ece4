import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from '@veche/db';
import { eventually, scaledMs, testDatabaseUrl, type TestDatabase } from '@veche/testing';
import { createEventStore, type EventStore } from '../src/index.ts';
import { migratedDatabase, testLog } from './setup.ts';

const fixture = new URL('./fixtures/subscriber.ts', import.meta.url).pathname;

interface Replica {
  child: ChildProcess;
  pid: number;
  /** Leadership changes as reported, with the time they were read. */
  leadership: { leader: boolean; at: number }[];
}

function startReplica(schema: string): Replica {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, TEST_DATABASE_URL: testDatabaseUrl(), SCHEMA: schema, SUBSCRIPTION: 'effects' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const replica: Replica = { child, pid: child.pid!, leadership: [] };
  createInterface({ input: child.stdout }).on('line', (line) => {
    const report = JSON.parse(line) as { leader?: boolean };
    if (typeof report.leader === 'boolean')
      replica.leadership.push({ leader: report.leader, at: Date.now() });
  });
  return replica;
}

const isLeading = (replica: Replica): boolean => replica.leadership.at(-1)?.leader === true;

let database: TestDatabase;
let store: EventStore;
const replicas: Replica[] = [];

describe('subscription leadership across processes', () => {
  before(async () => {
    database = await migratedDatabase(import.meta.filename, 4);
    await sql`create table effects (event_id text not null, handled_by int not null)`.execute(database.db);
    store = createEventStore({ database, log: testLog() });
  });
  after(async () => {
    for (const { child } of replicas)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await store.close();
    await database.drop();
  });

  it('one replica handles at a time; when the leader is SIGKILLed the standby takes over within seconds, and every event takes effect exactly once', async () => {
    const first = startReplica(database.schema);
    replicas.push(first);
    await eventually(() => isLeading(first), { message: 'the first replica leading' });
    const second = startReplica(database.schema);
    replicas.push(second);
    await eventually(() => second.leadership.length > 0, { message: 'the second replica started' });
    assert.equal(isLeading(second), false, 'the second replica stands by');

    const appended: string[] = [];
    let appending = true;
    const appender = (async () => {
      for (let i = 0; appending; i++) {
        const { events } = await store.append(`room-${i % 7}`, [
          { type: 'message.posted', data: { i } },
          { type: 'message.posted', data: { i, again: true } },
        ]);
        appended.push(...events.map((e) => e.eventId));
        await delay(5);
      }
    })();

    const handledCount = async (): Promise<number> =>
      (await sql<{ n: number }>`select count(*)::int as n from effects`.execute(database.db)).rows[0]!.n;
    await eventually(async () => (await handledCount()) >= 100, { message: 'the leader handling events' });

    first.child.kill('SIGKILL');
    const killedAt = Date.now();
    await once(first.child, 'exit');
    await eventually(() => isLeading(second), { message: 'the standby taking over', timeoutMs: 10_000 });
    const takeoverMs = second.leadership.at(-1)!.at - killedAt;
    assert.ok(takeoverMs < scaledMs(5_000), `took over after ${takeoverMs} ms`);

    await delay(500);
    appending = false;
    await appender;
    await eventually(async () => (await handledCount()) >= appended.length, {
      message: 'the new leader catching up',
      timeoutMs: 20_000,
    });
    await delay(300);

    const { rows } = await sql<{
      event_id: string;
      handled_by: number;
    }>`select event_id, handled_by from effects`.execute(database.db);
    const ids = rows.map((r) => r.event_id);
    assert.equal(ids.length, new Set(ids).size, 'no event took effect twice');
    assert.deepEqual(new Set(ids), new Set(appended), 'every event took effect');
    const handlers = new Set(rows.map((r) => r.handled_by));
    assert.deepEqual(
      handlers,
      new Set([first.pid, second.pid]),
      'both replicas handled events, one after the other',
    );

    second.child.kill('SIGTERM');
    const [code] = (await once(second.child, 'exit')) as [number | null];
    assert.equal(code, 0, 'the standby-turned-leader stops gracefully');
  });
});
