import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '@veche/db';
import { createEventStore, eventStoreMigrations, type EventStore } from '@veche/event-store';
import { createTestDatabase, eventually, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import {
  createBusConnection,
  createOutboxRelay,
  type BusConnection,
  type OutboxRelay,
} from '../src/index.ts';
import { connectAdmin, testLog, type Admin } from './support.ts';

const log = testLog();

describe('outbox relay', () => {
  const testId = uniqueName('bus_relay');
  const exchange = `${testId}.events`;
  const captured = `${testId}.captured`;
  let database: TestDatabase;
  let store: EventStore;
  let admin: Admin;
  const connections: BusConnection[] = [];
  const relays: OutboxRelay[] = [];

  async function startRelay(replica: string): Promise<OutboxRelay> {
    const connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:relay-${replica}`, log });
    await connection.start();
    connections.push(connection);
    const relay = createOutboxRelay({
      database,
      store,
      connection,
      log,
      exchange,
      eventTypes: ['account.registered', 'chat.message_posted'],
      pollIntervalMs: 50,
      leaseRetryMs: 100,
    });
    await relay.start();
    relays.push(relay);
    return relay;
  }

  before(async () => {
    // Pool of three plus one lock connection per relay: five in all.
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, eventStoreMigrations);
    store = createEventStore({ database, log, maxConcurrentBatches: 1 });
    admin = await connectAdmin();
    await admin.channel.assertExchange(exchange, 'topic', { durable: true });
    await admin.channel.assertQueue(captured, { durable: false });
    await admin.channel.bindQueue(captured, exchange, '#');
  });

  after(async () => {
    for (const relay of relays) await relay.stop();
    for (const connection of connections) await connection.stop();
    await admin.cleanUp([captured], [exchange]);
    await store.close();
    await database.drop();
  });

  it('publishes committed events of the chosen types, in log order, from one replica at a time', async () => {
    const first = await startRelay('a');
    const second = await startRelay('b');
    assert.equal([first, second].filter((relay) => relay.isLeader).length, 1, 'exactly one replica leads');

    const { events } = await store.append(
      'account-1',
      [
        { type: 'account.registered', data: { email: 'a@example.org' } },
        { type: 'account.internal_note', data: {} },
        { type: 'chat.message_posted', data: { text: 'hi' } },
      ],
      { correlationId: 'corr-1', causationId: 'cause-1' },
    );
    const published = events.filter((event) => event.type !== 'account.internal_note');
    const messages = await admin.take(captured, 2);
    assert.deepEqual(
      messages.map((m): unknown[] => [m.properties.messageId as unknown, m.fields.routingKey]),
      published.map((event) => [event.eventId, event.type]),
    );
    const body = JSON.parse(messages[0]!.content.toString()) as Record<string, unknown>;
    assert.deepEqual(body, {
      type: published[0]!.type,
      data: published[0]!.data,
      metadata: published[0]!.metadata,
    });
    assert.equal(messages[0]!.properties.headers?.['correlationId'], 'corr-1');
    assert.equal(messages[0]!.properties.headers?.['causationId'], 'cause-1');
    const leader = first.isLeader ? first : second;
    const standby = leader === first ? second : first;
    await eventually(
      async () => (await leader.checkpoint()).globalPosition >= events.at(-1)!.globalPosition,
      { message: 'the checkpoint past the published events' },
    );

    // The leader goes away: the standby takes over and carries on from the checkpoint.
    await leader.stop();
    await eventually(() => standby.isLeader, { message: 'the standby takes over', timeoutMs: 5_000 });
    const later = await store.append('account-2', [
      { type: 'account.registered', data: { email: 'b@example.org' } },
    ]);
    const [next] = await admin.take(captured, 1);
    assert.equal(next!.properties.messageId, later.events[0]!.eventId);
    assert.equal(await admin.channel.get(captured), false, 'nothing published twice');
  });
});
