import { validationError } from '@veche/errors';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrate, sql } from '@veche/db';
import { createTestDatabase, eventually, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import {
  busMigrations,
  createBusConnection,
  createConsumer,
  createPublisher,
  declareConsumerTopology,
  headers,
  type BusConnection,
  type Consumer,
  type BatchHandler,
  type ConsumerHandler,
  type ConsumerSettings,
  type EventHandler,
  type IntegrationEvent,
  type Publisher,
} from '../src/index.ts';
import { batchContentType } from '../src/message.ts';
import { closeConnectionsNamed, connectAdmin, sampleEvent, testLog, type Admin } from './support.ts';

const log = testLog();

/** The effect a handler has: one row per event id, counting how often it was applied. */
const countEffect: EventHandler = async (event, trx) => {
  await sql`insert into effects (event_id, type, count) values (${event.metadata.eventId}, ${event.type}, 1)
    on conflict (event_id) do update set count = effects.count + 1`.execute(trx);
};

describe('bus consumer', () => {
  let database: TestDatabase;
  let admin: Admin;
  const testId = uniqueName('bus_consumer');
  const exchange = `${testId}.events`;
  const queues: string[] = [];
  const running: { stop(): Promise<void> }[] = [];
  let connection: BusConnection;
  /** Packs runs of one type into batch messages, as the relay does. */
  let publisher: Publisher;
  /** One message per event: for tests about messages, not events. */
  let singles: Publisher;

  const effects = async (): Promise<Map<string, number>> => {
    const { rows } = await sql<{
      event_id: string;
      count: number;
    }>`select event_id, count from effects`.execute(database.db);
    return new Map(rows.map((row) => [row.event_id, row.count]));
  };

  /** A consumer on its own queue (cleaned up after the file) and its own named connection. */
  async function startConsumer(
    purpose: string,
    overrides: Partial<ConsumerSettings> &
      Pick<ConsumerSettings, 'bindings'> & { handle?: EventHandler; handleBatch?: BatchHandler },
  ): Promise<{ consumer: Consumer; connectionName: string }> {
    const { handle, handleBatch, ...settings } = overrides;
    const handler: ConsumerHandler = handleBatch ? { handleBatch } : { handle: handle ?? countEffect };
    const queue = overrides.queue ?? `${testId}.${purpose}`;
    const connectionName = `${testId}:${purpose}:${running.length}`;
    const consumerConnection = createBusConnection({ url: testAmqpUrl(), name: connectionName, log });
    await consumerConnection.start();
    const consumer = createConsumer({
      connection: consumerConnection,
      database,
      log,
      exchange,
      queue,
      retryDelaysMs: [200],
      ...settings,
      ...handler,
    });
    queues.push(
      consumer.names.queue,
      consumer.names.deadLetterQueue,
      ...consumer.names.retryQueues.map((r) => r.name),
    );
    await consumer.start();
    running.push(consumer, consumerConnection);
    return { consumer, connectionName };
  }

  before(async () => {
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 5 });
    await migrate(database, {
      ...busMigrations,
      '0001-effects': {
        async up(db) {
          await sql`create table effects (event_id text primary key, type text not null, count int not null)`.execute(
            db,
          );
        },
      },
    });
    admin = await connectAdmin();
    connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:publisher`, log });
    await connection.start();
    publisher = createPublisher({ connection, log, exchange });
    await publisher.start();
    singles = createPublisher({ connection, log, exchange, maxEventsPerMessage: 1 });
    await singles.start();
  });

  after(async () => {
    for (const part of running.reverse()) await part.stop();
    await singles.stop();
    await publisher.stop();
    await connection.stop();
    await admin.cleanUp([...new Set(queues)], [exchange]);
    await database.drop();
  });

  it('declares the topology idempotently and routes by event type, wildcards included', async () => {
    const accounts = `${testId}.accounts`;
    const posts = `${testId}.posts`;
    queues.push(
      accounts,
      `${accounts}.dead`,
      `${accounts}.retry.1s`,
      posts,
      `${posts}.dead`,
      `${posts}.retry.1s`,
    );
    // Two replicas declaring the same topology, on two channels, at the same time.
    const other = await admin.connection.createChannel();
    const declare = (channel: typeof other, queue: string, bindings: string[]) =>
      declareConsumerTopology(channel, { exchange, queue, bindings, retryDelaysMs: [1_000] });
    await Promise.all([
      declare(admin.channel, accounts, ['account.*']),
      declare(other, accounts, ['account.*']),
      declare(admin.channel, posts, ['#.message_posted']),
    ]);
    await other.close();
    const registered = sampleEvent('account.registered', { userId: 'u1' });
    const posted = sampleEvent('chat.message_posted', { text: 'hello' });
    const unrouted = sampleEvent('logs.alert_raised', {});
    await publisher.publish([registered, posted, unrouted]);

    const [toAccounts] = await admin.take(accounts, 1);
    const [toPosts] = await admin.take(posts, 1);
    await sleep(100);
    assert.equal(await admin.channel.get(accounts), false, 'nothing else routed to accounts');
    assert.equal(await admin.channel.get(posts), false, 'nothing else routed to posts');

    assert.equal(toAccounts!.properties.messageId, registered.metadata.eventId);
    assert.equal(toAccounts!.properties.type, 'account.registered');
    assert.equal(toAccounts!.fields.routingKey, 'account.registered');
    assert.equal(toAccounts!.properties.deliveryMode, 2, 'persistent');
    assert.equal(toAccounts!.properties.headers?.[headers.correlationId], registered.metadata.correlationId);
    assert.equal(toAccounts!.properties.headers?.[headers.causationId], registered.metadata.causationId);
    assert.deepEqual(JSON.parse(toAccounts!.content.toString()), registered);
    assert.equal(toPosts!.properties.messageId, posted.metadata.eventId);

    const retry = await admin.channel.checkQueue(`${accounts}.retry.1s`);
    assert.equal(retry.messageCount, 0);
  });

  it('retries a failing handler with growing delay, then dead-letters it with the attempt history', async () => {
    const attemptsAt = new Map<string, number[]>();
    const doomed = sampleEvent('retry.doomed', { n: 1 });
    const flaky = sampleEvent('retry.flaky', { n: 2 });
    const { consumer } = await startConsumer('retry', {
      bindings: ['retry.*'],
      retryDelaysMs: [300, 900],
      maxAttempts: 3,
      handle: async (event, trx, context) => {
        const times = attemptsAt.get(event.type) ?? [];
        times.push(Date.now());
        attemptsAt.set(event.type, times);
        assert.equal(context.attempt, times.length, 'the context counts attempts');
        if (event.type === 'retry.doomed') throw new Error(`still broken (attempt ${context.attempt})`);
        if (context.attempt === 1) throw new Error('flaky once');
        await countEffect(event, trx, context);
      },
    });
    await publisher.publish([doomed, flaky]);

    const [dead] = await admin.take(consumer.names.deadLetterQueue, 1, 15_000);
    const times = attemptsAt.get('retry.doomed')!;
    assert.equal(times.length, 3, 'three attempts before the dead-letter queue');
    const [first, second, third] = times as [number, number, number];
    assert.ok(second - first >= 300, `first retry after ≥ 300 ms (was ${second - first})`);
    assert.ok(third - second >= 900, `second retry after ≥ 900 ms (was ${third - second})`);

    assert.equal(dead!.properties.messageId, doomed.metadata.eventId);
    const deadHeaders = dead!.properties.headers ?? {};
    assert.equal(deadHeaders[headers.deadReason], 'max-attempts');
    assert.equal(deadHeaders[headers.attempts], 3);
    assert.equal(deadHeaders[headers.routingKey], 'retry.doomed');
    assert.match(String(deadHeaders[headers.error]), /still broken \(attempt 3\)/);
    const history = JSON.parse(String(deadHeaders[headers.history])) as { attempt: number; error: string }[];
    assert.deepEqual(
      history.map((h) => [h.attempt, h.error]),
      [1, 2, 3].map((n) => [n, `Error: still broken (attempt ${n})`]),
    );
    assert.deepEqual(JSON.parse(dead!.content.toString()), doomed);

    await eventually(async () => (await effects()).get(flaky.metadata.eventId) === 1, {
      message: 'flaky handled',
    });
    assert.equal((await effects()).has(doomed.metadata.eventId), false, 'no effect of the failed handler');
    assert.equal(attemptsAt.get('retry.flaky')?.length, 2);
    for (const retry of consumer.names.retryQueues) {
      assert.equal((await admin.channel.checkQueue(retry.name)).messageCount, 0);
    }
  });

  it('sends a poison message straight to the dead-letter queue without blocking the queue', async () => {
    const handled: string[] = [];
    const { consumer } = await startConsumer('poison', {
      bindings: ['poison.*'],
      retryDelaysMs: [60_000],
      batchSize: 16,
      handle: async (event, trx, context) => {
        handled.push(event.metadata.eventId);
        await countEffect(event, trx, context);
      },
    });
    const before = sampleEvent('poison.ok', { n: 1 });
    const afterPoison = Array.from({ length: 20 }, (_, n) => sampleEvent('poison.ok', { n }));
    await publisher.publish([before]);
    const raw = await admin.connection.createConfirmChannel();
    raw.publish(exchange, 'poison.ok', Buffer.from('{"type": "poison.ok", "da'), { messageId: 'bad-json' });
    const { correlationId: _missing, ...metadata } = before.metadata;
    raw.publish(
      exchange,
      'poison.ok',
      Buffer.from(
        JSON.stringify({ type: 'poison.ok', data: {}, metadata: { ...metadata, eventId: 'no-corr' } }),
      ),
      { messageId: 'no-corr' },
    );
    await raw.waitForConfirms();
    await raw.close();
    await publisher.publish(afterPoison);

    const dead = await admin.take(consumer.names.deadLetterQueue, 2);
    const reasons = new Map(dead.map((m) => [m.properties.messageId as string, m.properties.headers ?? {}]));
    assert.equal(reasons.get('bad-json')?.[headers.deadReason], 'invalid');
    assert.match(String(reasons.get('bad-json')?.[headers.error]), /malformed JSON/);
    assert.match(String(reasons.get('no-corr')?.[headers.error]), /metadata\.correlationId/);
    assert.equal(reasons.get('no-corr')?.[headers.attempts], 0, 'no retries for an invalid message');

    await eventually(async () => handled.length === 21, { message: 'all valid messages handled' });
    assert.deepEqual(new Set(handled), new Set([before, ...afterPoison].map((e) => e.metadata.eventId)));
    assert.equal((await admin.channel.checkQueue(consumer.names.queue)).messageCount, 0);
    assert.equal(consumer.stats().retried, 0);
  });

  it('dead-letters at once a message its handler rejects as invalid, without retries', async () => {
    const handled: string[] = [];
    const { consumer } = await startConsumer('rejects', {
      bindings: ['rejects.*'],
      retryDelaysMs: [60_000],
      batchSize: 8,
      handle: async (event, trx, context) => {
        if ((event.data as { bad?: boolean }).bad) throw validationError('payload refused by its schema');
        handled.push(event.metadata.eventId);
        await countEffect(event, trx, context);
      },
    });
    const bad = sampleEvent('rejects.it', { bad: true });
    const good = Array.from({ length: 10 }, (_, n) => sampleEvent('rejects.it', { n }));
    await publisher.publish([good[0]!, bad, ...good.slice(1)]);

    const [dead] = await admin.take(consumer.names.deadLetterQueue, 1);
    assert.equal(dead?.properties.messageId, bad.metadata.eventId);
    assert.equal(dead?.properties.headers?.[headers.deadReason], 'rejected');
    assert.match(String(dead?.properties.headers?.[headers.error]), /payload refused by its schema/);
    // The neighbours shared a batch message (and a transaction) with the bad one: the handler saw
    // them once in the rolled-back batch and again one by one, but each has exactly one effect.
    const goodIds = good.map((e) => e.metadata.eventId);
    await eventually(
      async () => goodIds.every((id) => handled.includes(id)) && consumer.stats().handled === 10,
      {
        message: 'the valid neighbours handled',
      },
    );
    const counts = await effects();
    for (const id of goodIds) assert.equal(counts.get(id), 1, `one effect for ${id}`);
    assert.equal(counts.has(bad.metadata.eventId), false);
    assert.equal(consumer.stats().retried, 0, 'an invalid message is never retried');
    assert.equal(consumer.stats().deadLettered, 1);
  });

  it('has one effect for a message delivered twice, even to two replicas at once', async () => {
    const queue = `${testId}.dedup`;
    const first = await startConsumer('dedup-a', { queue, bindings: ['dedup.*'], prefetch: 4, batchSize: 2 });
    const second = await startConsumer('dedup-b', {
      queue,
      bindings: ['dedup.*'],
      prefetch: 4,
      batchSize: 2,
    });
    const events = Array.from({ length: 40 }, (_, n) => sampleEvent('dedup.happened', { n }));
    // Each event published three times: a relay that republished after a crash, twice over.
    await singles.publish(events);
    await Promise.all([singles.publish(events), singles.publish([...events].reverse())]);

    await eventually(
      () => {
        const [a, b] = [first.consumer.stats(), second.consumer.stats()];
        return a.handled + a.duplicates + b.handled + b.duplicates === 120;
      },
      { message: 'all 120 deliveries handled' },
    );
    const counts = await effects();
    for (const event of events) assert.equal(counts.get(event.metadata.eventId), 1, 'exactly one effect');
    const { rows } = await sql<{
      n: number;
    }>`select count(*) as n from bus_inbox where consumer = ${queue}`.execute(database.db);
    assert.equal(rows[0]?.n, 40);
    assert.equal(first.consumer.stats().handled + second.consumer.stats().handled, 40);
    assert.ok(
      first.consumer.stats().handled > 0 && second.consumer.stats().handled > 0,
      'both replicas worked',
    );
  });

  it('keeps the neighbours of a failing message in a batch, and handles each once', async () => {
    let failures = 0;
    const events = Array.from({ length: 60 }, (_, n) => sampleEvent('batch.item', { n }));
    const bad = events[17]!;
    const { consumer } = await startConsumer('batch', {
      bindings: ['batch.*'],
      retryDelaysMs: [200],
      batchSize: 60,
      prefetch: 120,
      handle: async (event: IntegrationEvent, trx, context) => {
        await countEffect(event, trx, context);
        if (event.metadata.eventId === bad.metadata.eventId && context.attempt === 1) {
          failures += 1;
          throw new Error('bad on first attempt');
        }
      },
    });
    await publisher.publish(events);
    await eventually(async () => (await effects()).get(bad.metadata.eventId) === 1, {
      message: 'bad one retried',
    });
    const counts = await effects();
    for (const event of events) assert.equal(counts.get(event.metadata.eventId), 1);
    assert.ok(failures >= 1);
    assert.equal(consumer.stats().retried, 1, 'only the failing message went to the retry queue');
    assert.equal(consumer.stats().handled, 60);
  });

  it('isolates the failing event when a batch handler throws, and acks the rest together', async () => {
    const events = Array.from({ length: 50 }, (_, n) => sampleEvent('bulk.item', { n }));
    const bad = events[31]!;
    const batchSizes: number[] = [];
    const { consumer } = await startConsumer('bulk', {
      bindings: ['bulk.*'],
      retryDelaysMs: [200],
      batchSize: 50,
      prefetch: 100,
      handleBatch: async (deliveries, trx) => {
        batchSizes.push(deliveries.length);
        const ids = deliveries.map((d) => d.event.metadata.eventId);
        await sql`insert into effects (event_id, type, count) select id, 'bulk.item', 1 from unnest(${ids}::text[]) as id
          on conflict (event_id) do update set count = effects.count + 1`.execute(trx);
        const culprit = deliveries.find((d) => d.event.metadata.eventId === bad.metadata.eventId);
        if (culprit && culprit.context.attempt === 1) throw new Error('one bad event in the batch');
      },
    });
    await publisher.publish(events);
    await eventually(async () => (await effects()).get(bad.metadata.eventId) === 1, {
      message: 'bad one retried',
    });
    const counts = await effects();
    for (const event of events) assert.equal(counts.get(event.metadata.eventId), 1);
    assert.ok(
      batchSizes.some((size) => size > 1),
      `handled in batches (${batchSizes.join(', ')})`,
    );
    assert.equal(consumer.stats().retried, 1);
    assert.equal(consumer.stats().handled, 50);
    // Unacked messages return to the queue when the consumer's channel closes.
    await consumer.stop();
    assert.equal(
      (await admin.channel.checkQueue(consumer.names.queue)).messageCount,
      0,
      'nothing left unacked',
    );
  });

  it('refuses to start when the broker holds a clashing declaration of its queues', async () => {
    const queue = `${testId}.clash`;
    queues.push(queue, `${queue}.retry.1s`, `${queue}.dead`);
    await admin.channel.assertQueue(`${queue}.retry.1s`, {
      durable: true,
      arguments: { 'x-message-ttl': 5_000 },
    });
    const clashing = createBusConnection({ url: testAmqpUrl(), name: `${testId}:clash`, log });
    await clashing.start();
    try {
      const consumer = createConsumer({
        connection: clashing,
        database,
        log,
        exchange,
        queue,
        bindings: ['clash.*'],
        retryDelaysMs: [1_000],
        handle: countEffect,
      });
      await assert.rejects(consumer.start(), /PRECONDITION_FAILED/);
    } finally {
      await clashing.stop();
    }
  });

  it('resumes consuming after the broker closes its connection', async () => {
    const { consumer, connectionName } = await startConsumer('resume', { bindings: ['resume.*'] });
    const early = Array.from({ length: 10 }, (_, n) => sampleEvent('resume.item', { n }));
    await publisher.publish(early);
    await eventually(() => consumer.stats().handled === 10, { message: 'early events handled' });

    assert.equal(await closeConnectionsNamed(connectionName), 1);
    assert.ok((await closeConnectionsNamed(`${testId}:publisher`)) >= 1);
    const late = Array.from({ length: 10 }, (_, n) => sampleEvent('resume.item', { n: 10 + n }));
    // Published while the publisher's own connection is coming back: held and sent on reconnect.
    await publisher.publish(late);
    await eventually(() => consumer.stats().handled === 20, {
      message: 'late events handled',
      timeoutMs: 15_000,
    });
    const counts = await effects();
    for (const event of [...early, ...late]) assert.equal(counts.get(event.metadata.eventId), 1);
  });

  it('consumes again after the broker cancels it because its queue was deleted', async () => {
    const { consumer } = await startConsumer('cancelled', {
      bindings: ['cancelled.*'],
      redeliveryDelayMs: 200,
    });
    await admin.channel.deleteQueue(consumer.names.queue);
    // Consumed again means declared, bound and consumed: the queue alone can exist before its
    // bindings, and events published in between are unroutable (this test once lost them so).
    const consumedAgain = async (): Promise<boolean> => {
      const channel = await admin.connection.createChannel();
      channel.on('error', () => {}); // a 404 closes this throwaway channel
      try {
        const { consumerCount } = await channel.checkQueue(consumer.names.queue);
        await channel.close();
        return consumerCount > 0;
      } catch {
        return false;
      }
    };
    await eventually(consumedAgain, {
      message: 'the queue declared, bound and consumed again',
      timeoutMs: 5_000,
    });
    const events = Array.from({ length: 5 }, (_, n) => sampleEvent('cancelled.item', { n }));
    await publisher.publish(events);
    await eventually(() => consumer.stats().handled === 5, { message: 'events after the cancel handled' });
  });

  it('unpacks batch messages: each event handled once under its own id, across several messages', async () => {
    const { consumer } = await startConsumer('packed', { bindings: ['packed.*'], batchSize: 64 });
    const events = Array.from({ length: 250 }, (_, n) => sampleEvent('packed.item', { n }));
    await publisher.publish(events); // 100 + 100 + 50 events: three messages
    await eventually(() => consumer.stats().handled === 250, { message: 'all 250 events handled' });
    const counts = await effects();
    for (const event of events) assert.equal(counts.get(event.metadata.eventId), 1);
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from bus_inbox where consumer = ${consumer.names.queue}`.execute(database.db);
    assert.equal(rows[0]?.n, 250, 'one inbox row per event');
    // The same batches again (a relay republishing after a crash): duplicates, no second effect.
    await publisher.publish(events);
    await eventually(() => consumer.stats().duplicates === 250, { message: 'redelivered batches absorbed' });
    assert.deepEqual(
      [...(await effects())]
        .filter(([id]) => events.some((e) => e.metadata.eventId === id))
        .map(([, n]) => n),
      events.map(() => 1),
    );
    await eventually(async () => (await admin.channel.checkQueue(consumer.names.queue)).messageCount === 0, {
      message: 'every batch message acknowledged',
    });
  });

  it('retries and dead-letters the failing event of a batch message alone, as a message of its own', async () => {
    const events = Array.from({ length: 10 }, (_, n) => sampleEvent('packedfail.item', { n }));
    const doomed = events[7]!;
    const { consumer } = await startConsumer('packedfail', {
      bindings: ['packedfail.*'],
      retryDelaysMs: [100],
      maxAttempts: 2,
      handle: async (event, trx, context) => {
        if (event.metadata.eventId === doomed.metadata.eventId) throw new Error('event 7 is broken');
        await countEffect(event, trx, context);
      },
    });
    await publisher.publish(events);
    const [dead] = await admin.take(consumer.names.deadLetterQueue, 1, 15_000);
    assert.equal(dead!.properties.messageId, doomed.metadata.eventId);
    assert.equal(dead!.properties.contentType, 'application/json');
    assert.equal(dead!.properties.headers?.[headers.deadReason], 'max-attempts');
    assert.equal(dead!.properties.headers?.[headers.attempts], 2);
    assert.equal(dead!.properties.headers?.[headers.events], undefined);
    assert.deepEqual(JSON.parse(dead!.content.toString()), doomed);
    const counts = await effects();
    for (const event of events)
      assert.equal(counts.get(event.metadata.eventId), event === doomed ? undefined : 1);
    assert.equal(consumer.stats().handled, 9);
    await eventually(async () => (await admin.channel.checkQueue(consumer.names.queue)).messageCount === 0, {
      message: 'the batch message acknowledged',
    });
  });

  it('dead-letters a malformed event of a batch message alone and handles the others', async () => {
    const { consumer } = await startConsumer('packedbad', { bindings: ['packedbad.*'] });
    const good = [1, 2].map((n) => sampleEvent('packedbad.item', { n }));
    const content = Buffer.from(
      JSON.stringify({ events: [good[0], { type: 'packedbad.item', data: { n: 'no metadata' } }, good[1]] }),
    );
    admin.channel.publish(exchange, 'packedbad.item', content, {
      persistent: true,
      messageId: 'batch:handmade:3',
      contentType: batchContentType,
      headers: { [headers.events]: 3 },
    });
    const [dead] = await admin.take(consumer.names.deadLetterQueue, 1);
    assert.equal(dead!.properties.headers?.[headers.deadReason], 'invalid');
    assert.match(String(dead!.properties.headers?.[headers.error]), /metadata/);
    assert.deepEqual(JSON.parse(dead!.content.toString()), {
      type: 'packedbad.item',
      data: { n: 'no metadata' },
    });
    await eventually(() => consumer.stats().handled === 2, { message: 'the good events handled' });
    const counts = await effects();
    for (const event of good) assert.equal(counts.get(event.metadata.eventId), 1);
  });

  it('finishes the messages it holds when stopped, and leaves the rest in the queue', async () => {
    const queue = `${testId}.stopping`;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const started: string[] = [];
    const { consumer } = await startConsumer('stopping', {
      queue,
      bindings: ['stopping.*'],
      prefetch: 5,
      batchSize: 5,
      handle: async (event, trx, context) => {
        started.push(event.metadata.eventId);
        await gate;
        await countEffect(event, trx, context);
      },
    });
    const events = Array.from({ length: 30 }, (_, n) => sampleEvent('stopping.item', { n }));
    await singles.publish(events);
    await eventually(() => started.length > 0, { message: 'a batch under way' });
    const stopped = consumer.stop();
    await sleep(100);
    release();
    await stopped;
    const done = consumer.stats().handled;
    assert.ok(done >= 1 && done <= 10, `finished what it held (${done})`);
    const { messageCount } = await admin.channel.checkQueue(queue);
    assert.equal(messageCount + done, 30, 'every message either handled and acked, or back in the queue');
  });
});
