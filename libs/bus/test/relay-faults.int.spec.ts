import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate, sql } from '@veche/db';
import { createEventStore, eventStoreMigrations, type EventStore } from '@veche/event-store';
import {
  createTestDatabase,
  eventually,
  testAmqpUrl,
  testDatabaseUrl,
  uniqueName,
  type TestDatabase,
} from '@veche/testing';
import {
  busMigrations,
  createBusConnection,
  createConsumer,
  type BusConnection,
  type Consumer,
} from '../src/index.ts';
import { closeConnectionsNamed, connectAdmin, testLog, type Admin } from './support.ts';

const log = testLog();
const fixture = new URL('./fixtures/outbox-relay.ts', import.meta.url);

describe('outbox relay under faults', () => {
  const testId = uniqueName('bus_faults');
  const exchange = `${testId}.events`;
  const relayConnection = `${testId}:relay`;
  const consumerConnection = `${testId}:consumer`;
  let database: TestDatabase;
  let store: EventStore;
  let admin: Admin;
  let connection: BusConnection;
  let consumer: Consumer;
  const children: ChildProcess[] = [];

  function spawnRelay(killAfterConfirmedBatches: number): ChildProcess {
    const child = fork(fixture, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: {
        ...process.env,
        BUS_RELAY_DATABASE_URL: testDatabaseUrl(),
        BUS_RELAY_SCHEMA: database.schema,
        BUS_RELAY_AMQP_URL: testAmqpUrl(),
        BUS_RELAY_EXCHANGE: exchange,
        BUS_RELAY_CONNECTION_NAME: relayConnection,
        BUS_RELAY_BATCH_SIZE: '250',
        BUS_TEST_KILL_AFTER_CONFIRMED_BATCHES: String(killAfterConfirmedBatches),
      },
    });
    children.push(child);
    return child;
  }

  async function exitOf(
    child: ChildProcess,
    timeoutMs = 90_000, // ends a test that hangs; the relay may need long on a loaded machine
  ): Promise<{ code: number | null; signal: string | null }> {
    if (child.exitCode !== null || child.signalCode !== null)
      return { code: child.exitCode, signal: child.signalCode };
    const [code, signal] = (await once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) })) as [
      number | null,
      string | null,
    ];
    return { code, signal };
  }

  const appended: string[] = [];
  async function append(events: number, perAppend: number, pauseMs: number): Promise<void> {
    for (let done = 0; done < events; done += perAppend) {
      const stream = `fault-${appended.length % 7}`;
      const result = await store.append(
        stream,
        Array.from({ length: perAppend }, (_, n) => ({ type: 'fault.happened', data: { n: done + n } })),
        { correlationId: testId },
      );
      appended.push(...result.events.map((event) => event.eventId));
      if (pauseMs) await sleep(pauseMs);
    }
  }

  const effectCounts = async (): Promise<{ rows: number; total: number; maxCount: number }> => {
    const { rows } = await sql<{ rows: number; total: number; max_count: number }>`
      select count(*) as rows, coalesce(sum(count), 0)::int as total, coalesce(max(count), 0) as max_count
      from effects`.execute(database.db);
    return { rows: rows[0]!.rows, total: rows[0]!.total, maxCount: rows[0]!.max_count };
  };

  before(async () => {
    // Six connections in all: three here (appends, consumer, checks), three in the relay process.
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, {
      ...eventStoreMigrations,
      ...busMigrations,
      '0001-effects': {
        async up(db) {
          await sql`create table effects (event_id text primary key, count int not null)`.execute(db);
        },
      },
    });
    store = createEventStore({ database, log, maxConcurrentBatches: 1 });
    admin = await connectAdmin();
    connection = createBusConnection({ url: testAmqpUrl(), name: consumerConnection, log });
    await connection.start();
    consumer = createConsumer({
      connection,
      database,
      log,
      exchange,
      queue: `${testId}.effects`,
      bindings: ['fault.*'],
      retryDelaysMs: [200],
      batchSize: 100,
      prefetch: 400,
      handle: async (event, trx) => {
        await sql`insert into effects (event_id, count) values (${event.metadata.eventId}, 1)
          on conflict (event_id) do update set count = effects.count + 1`.execute(trx);
      },
    });
    await consumer.start();
  });

  after(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await consumer.stop();
    await connection.stop();
    const names = consumer.names;
    await admin.cleanUp(
      [names.queue, names.deadLetterQueue, ...names.retryQueues.map((r) => r.name)],
      [exchange],
    );
    await store.close();
    await database.drop();
  });

  it('delivers every event exactly once in effect through relay crashes and dropped connections', async () => {
    await append(1_000, 100, 0);

    // Killed after RabbitMQ confirmed its batches but before it saved the checkpoint, twice over.
    const first = spawnRelay(2);
    assert.equal((await exitOf(first)).signal, 'SIGKILL', 'the first relay died at the test hook');
    const appendingMore = append(1_000, 100, 20);
    const second = spawnRelay(3);
    assert.equal((await exitOf(second)).signal, 'SIGKILL', 'the second relay died at the test hook');
    await appendingMore;

    const third = spawnRelay(0);
    const [ready] = (await once(third, 'message', { signal: AbortSignal.timeout(90_000) })) as [
      { ready: boolean },
    ];
    assert.equal(ready.ready, true);
    // The last phase: 750 events flow, the broker drops the relay's and the consumer's connections,
    // and only then do the last 250 go in, so some events are certainly still to come after the drop.
    let connectionsDropped!: () => void;
    const dropped = new Promise<void>((resolve) => (connectionsDropped = resolve));
    const appendingLast = (async () => {
      await append(750, 25, 20);
      await dropped;
      await append(250, 25, 0);
    })();
    await eventually(async () => (await effectCounts()).rows > 2_100, {
      // A condition, not a clock: on a loaded machine the relay catches up on 2,000 events first.
      timeoutMs: 60_000,
      message: 'the last phase under way',
    });
    const [relayClosed, consumerClosed] = await Promise.all([
      closeConnectionsNamed(relayConnection),
      closeConnectionsNamed(consumerConnection),
    ]);
    assert.equal(relayClosed, 1, 'closed the relay connection');
    assert.equal(consumerClosed, 1, 'closed the consumer connection');
    assert.ok(appended.length < 3_000, 'events still to come after the connections dropped');
    connectionsDropped();
    await appendingLast;

    assert.equal(appended.length, 3_000);
    await eventually(async () => (await effectCounts()).rows === 3_000, {
      timeoutMs: 40_000,
      intervalMs: 200,
      message: 'an effect for each of the 3,000 events',
    });
    const counts = await effectCounts();
    assert.deepEqual(counts, { rows: 3_000, total: 3_000, maxCount: 1 }, 'each effect happened exactly once');
    const { rows: missing } = await sql<{ id: string }>`
      select id from unnest(${appended}::text[]) as id
      where not exists (select 1 from effects where event_id = id)`.execute(database.db);
    assert.deepEqual(missing, [], 'every appended event reached the consumer');
    // The crashes made the relay publish batches again: the inbox absorbed those copies.
    assert.ok(consumer.stats().duplicates >= 250, `duplicates absorbed (${consumer.stats().duplicates})`);
    assert.equal(consumer.stats().deadLettered, 0);

    third.kill('SIGTERM');
    assert.deepEqual(await exitOf(third), { code: 0, signal: null }, 'the relay stops gracefully');
  });
});
