import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testAmqpUrl, uniqueName } from '@veche/testing';
import {
  createBusConnection,
  createPublisher,
  replayUnrouted,
  unroutedQueueName,
  type BusConnection,
  type Publisher,
} from '../src/index.ts';
import { connectAdmin, sampleEvent, testLog, type Admin } from './support.ts';

const log = testLog();

describe('events no queue is bound for', () => {
  const testId = uniqueName('bus_unrouted');
  const exchange = `${testId}.events`;
  const late = `${testId}.late-consumer`;
  let admin: Admin;
  let connection: BusConnection;
  let publisher: Publisher;

  before(async () => {
    admin = await connectAdmin();
    connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:publisher`, log });
    await connection.start();
    // One message per event, so the queue counts below count events.
    publisher = createPublisher({ connection, log, exchange, maxEventsPerMessage: 1 });
    await publisher.start();
  });

  after(async () => {
    await publisher.stop();
    await connection.stop();
    await admin.cleanUp([late], [exchange]);
  });

  it('are kept in the unrouted queue, not dropped, and reach a consumer declared later by a replay', async () => {
    const routed = `${testId}.routed`;
    await admin.channel.assertQueue(routed, { durable: false });
    await admin.channel.bindQueue(routed, exchange, 'room.#');
    const orphans = [
      sampleEvent('account.registered', { n: 1 }),
      sampleEvent('account.registered', { n: 2 }),
    ];
    const bound = sampleEvent('room.created', { n: 3 });
    await publisher.publish([orphans[0]!, bound, orphans[1]!]);

    const kept = await admin.take(unroutedQueueName(exchange), 2);
    assert.deepEqual(
      kept.map((m) => m.properties.messageId as string),
      orphans.map((e) => e.metadata.eventId),
    );
    assert.deepEqual(
      kept.map((m) => (m.properties.headers as Record<string, unknown>)['x-veche-routing-key']),
      ['account.registered', 'account.registered'],
    );
    const [routedMessage] = await admin.take(routed, 1);
    assert.equal(routedMessage!.properties.messageId, bound.metadata.eventId, 'routed events are untouched');
    await admin.channel.deleteQueue(routed);

    // Put them back (take() consumed them), then replay once with no consumer and once with one.
    await publisher.publish(orphans);
    assert.deepEqual(await replayUnrouted({ url: testAmqpUrl(), log, exchange }), {
      delivered: 0,
      stillUnrouted: 2,
    });
    await admin.channel.assertQueue(late, { durable: true });
    await admin.channel.bindQueue(late, exchange, 'account.*');
    assert.deepEqual(await replayUnrouted({ url: testAmqpUrl(), log, exchange }), {
      delivered: 2,
      stillUnrouted: 0,
    });
    const delivered = await admin.take(late, 2);
    assert.deepEqual(
      delivered.map((m) => [m.properties.messageId as string, m.fields.routingKey]),
      orphans.map((e) => [e.metadata.eventId, 'account.registered']),
    );
    const { messageCount } = await admin.channel.checkQueue(unroutedQueueName(exchange));
    assert.equal(messageCount, 0, 'the unrouted queue is empty after the replay');
  });
});
