/**
 * Queue types on the real broker: a new consumer's queues are quorum queues; a classic queue left by an
 * earlier version keeps working; migrateToQuorum refuses a queue still consumed, and moves a classic
 * topology (main, retry and dead-letter queues, with their messages) to quorum queues, losing nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate, sql } from '@veche/db';
import { createTestDatabase, eventually, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import {
  busMigrations,
  createBusConnection,
  createConsumer,
  createPublisher,
  declareConsumerTopology,
  existingQueueType,
  migrateToQuorum,
  topologyNames,
  type BusConnection,
  type EventHandler,
  type Publisher,
} from '../src/index.ts';
import { consumerMessages } from '@veche/metrics';
import { connectAdmin, sampleEvent, testLog, type Admin } from './support.ts';

const log = testLog();
const countEffect: EventHandler = async (event, trx) => {
  await sql`insert into effects (event_id) values (${event.metadata.eventId})
    on conflict (event_id) do nothing`.execute(trx);
};

describe('bus queue types', () => {
  let database: TestDatabase;
  let admin: Admin;
  const testId = uniqueName('bus_qtype');
  const exchange = `${testId}.events`;
  const queues: string[] = [];
  let connection: BusConnection;
  let publisher: Publisher;
  const typeOf = (queue: string) => existingQueueType(admin.connection, queue);
  const effects = async () =>
    (await sql<{ n: number }>`select count(*)::int as n from effects`.execute(database.db)).rows[0]!.n;

  before(async () => {
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, {
      ...busMigrations,
      '0001-effects': {
        async up(db) {
          await sql`create table effects (event_id text primary key)`.execute(db);
        },
      },
    });
    admin = await connectAdmin();
    connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:bus`, log });
    await connection.start();
    publisher = createPublisher({ connection, log, exchange });
    await publisher.start();
  });

  after(async () => {
    await publisher.stop();
    await connection.stop();
    await admin.cleanUp([...new Set(queues)], [exchange]);
    await database.drop();
  });

  it("declares a new consumer's main, retry and dead-letter queues as quorum queues", async () => {
    const consumer = createConsumer({
      connection,
      database,
      log,
      exchange,
      queue: `${testId}.fresh`,
      bindings: ['fresh.*'],
      retryDelaysMs: [1_000],
      handle: countEffect,
    });
    const names = consumer.names;
    queues.push(names.queue, names.deadLetterQueue, ...names.retryQueues.map((r) => r.name));
    await consumer.start();
    try {
      assert.equal(await typeOf(names.queue), 'quorum');
      assert.equal(await typeOf(names.deadLetterQueue), 'quorum');
      // A retry queue declared again as classic clashes: it is quorum.
      const probe = await admin.connection.createChannel();
      probe.on('error', () => undefined);
      await assert.rejects(
        probe.assertQueue(names.retryQueues[0]!.name, {
          durable: true,
          arguments: {
            'x-message-ttl': 1_000,
            'x-dead-letter-exchange': '',
            'x-dead-letter-routing-key': names.queue,
          },
        }),
        /x-queue-type/,
      );
    } finally {
      await consumer.stop();
    }
  });

  it('keeps consuming from a classic queue an earlier version declared, then migrates it with no loss', async () => {
    const queue = `${testId}.legacy`;
    const bindings = ['legacy.*'];
    const names = topologyNames(queue, [200]);
    const holding = [`${queue}.migrating`, `${names.deadLetterQueue}.migrating`];
    queues.push(names.queue, names.deadLetterQueue, ...names.retryQueues.map((r) => r.name), ...holding);
    // The earlier version's topology: classic queues.
    await declareConsumerTopology(admin.channel, {
      exchange,
      queue,
      bindings,
      retryDelaysMs: [200],
      queueType: 'classic',
    });
    assert.equal(await typeOf(queue), 'classic');

    // Today's consumer on it: works, stays classic.
    const before = createConsumer({
      connection,
      database,
      log,
      exchange,
      queue,
      bindings,
      retryDelaysMs: [200],
      handle: countEffect,
    });
    await before.start();
    await publisher.publish([sampleEvent('legacy.one')]);
    await eventually(async () => (await effects()) === 1);
    await before.stop();
    assert.equal(await typeOf(queue), 'classic');

    // A queue someone still consumes is not touched.
    const reader = await admin.connection.createChannel();
    await reader.consume(queue, () => undefined);
    await assert.rejects(
      migrateToQuorum({ url: testAmqpUrl(), log, queue, bindings, exchange, retryDelaysMs: [200] }),
      /has 1 consumer\(s\): stop the service/,
    );
    await reader.close();
    assert.equal(await typeOf(queue), 'classic');

    // Messages waiting in the main and dead-letter queues when the migration starts.
    const waiting = [sampleEvent('legacy.a'), sampleEvent('legacy.b'), sampleEvent('legacy.c')];
    await publisher.publish(waiting);
    const deadOne = sampleEvent('legacy.dead');
    admin.channel.sendToQueue(names.deadLetterQueue, Buffer.from(JSON.stringify(deadOne)), {
      messageId: deadOne.metadata.eventId,
      persistent: true,
    });
    await eventually(async () => (await admin.channel.checkQueue(queue)).messageCount === 3);

    const result = await migrateToQuorum({
      url: testAmqpUrl(),
      log,
      queue,
      bindings,
      exchange,
      retryDelaysMs: [200],
    });
    assert.equal(result.migrated, true);
    assert.equal(await typeOf(queue), 'quorum');
    assert.equal(await typeOf(names.deadLetterQueue), 'quorum');
    for (const gone of holding) {
      const probe = await admin.connection.createChannel();
      probe.on('error', () => undefined);
      await assert.rejects(probe.checkQueue(gone), /NOT_FOUND/, `${gone} is removed`);
    }
    assert.deepEqual(result.moved, {
      [queue]: 3,
      [names.retryQueues[0]!.name]: 0,
      [names.deadLetterQueue]: 1,
      ...Object.fromEntries(holding.map((h, k) => [h, k === 0 ? 3 : 1])),
    });
    assert.equal((await admin.channel.checkQueue(queue)).messageCount, 3);
    assert.equal((await admin.channel.checkQueue(names.deadLetterQueue)).messageCount, 1);

    // Routing works on the new queue, and the consumer handles everything once.
    await publisher.publish([sampleEvent('legacy.after')]);
    const after = createConsumer({
      connection,
      database,
      log,
      exchange,
      queue,
      bindings,
      retryDelaysMs: [200],
      handle: countEffect,
    });
    await after.start();
    await eventually(async () => (await effects()) === 1 + 3 + 1);
    // Each handled message counted once in the process's metrics, under its queue.
    const handled = (await consumerMessages.get()).values.find(
      (v) => v.labels.queue === queue && v.labels.outcome === 'handled',
    );
    assert.equal(handled?.value, 1 + 3 + 1);
    await after.stop();

    // Again: nothing to do.
    assert.equal(
      (await migrateToQuorum({ url: testAmqpUrl(), log, queue, bindings, exchange, retryDelaysMs: [200] }))
        .migrated,
      false,
    );
  });
});
