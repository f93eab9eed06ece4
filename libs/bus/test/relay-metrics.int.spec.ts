import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '@veche/db';
import { createEventStore, eventStoreMigrations, type EventStore } from '@veche/event-store';
import { eventsAppended, relayLag, relayPublished } from '@veche/metrics';
import { createTestDatabase, eventually, testAmqpUrl, uniqueName, type TestDatabase } from '@veche/testing';
import { createBusConnection, createOutboxRelay, type BusConnection } from '../src/index.ts';
import { connectAdmin, testLog, type Admin } from './support.ts';

const log = testLog();

async function valueOf(
  metric: { get(): Promise<{ values: { value: number; labels: Record<string, unknown> }[] }> },
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

describe('outbox relay metrics', () => {
  const testId = uniqueName('bus_relay_metrics');
  const exchange = `${testId}.events`;
  const relayName = `${testId}.relay`;
  let database: TestDatabase;
  let store: EventStore;
  let admin: Admin;
  let connection: BusConnection;

  before(async () => {
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, eventStoreMigrations);
    store = createEventStore({ database, log });
    admin = await connectAdmin();
    await admin.channel.assertExchange(exchange, 'topic', { durable: true });
    connection = createBusConnection({ url: testAmqpUrl(), name: `${testId}:relay`, log });
    await connection.start();
  });

  after(async () => {
    await connection.stop();
    await admin.cleanUp([], [exchange]);
    await store.close();
    await database.drop();
  });

  it('counts appended events, and reports the lag of a batch published but not yet checkpointed', async () => {
    const appendedBefore = (await valueOf(eventsAppended)) ?? 0;
    await store.append('account-1', [
      { type: 'account.registered', data: {} },
      { type: 'account.verified', data: {} },
    ]);
    assert.equal((await valueOf(eventsAppended)) ?? 0, appendedBefore + 2);

    // The batch is confirmed by RabbitMQ and held before its checkpoint moves: the log is 2 ahead.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reachedHold!: () => void;
    const held = new Promise<void>((resolve) => (reachedHold = resolve));
    const relay = createOutboxRelay({
      database,
      store,
      connection,
      log,
      exchange,
      name: relayName,
      pollIntervalMs: 50,
      onBatchConfirmed: async () => {
        reachedHold();
        await released;
      },
    });
    await relay.start();
    try {
      await held;
      assert.equal(await valueOf(relayLag, { relay: relayName }), 2);
      assert.equal(await valueOf(relayPublished, { relay: relayName }), 2);
      release();
      await eventually(async () => (await valueOf(relayLag, { relay: relayName })) === 0, {
        message: 'the lag back to 0 once the checkpoint moved',
      });
    } finally {
      release();
      await relay.stop();
    }
    // A stopped relay reports nothing: a standby's or a stopped replica's lag is not a lag.
    assert.equal(await valueOf(relayLag, { relay: relayName }), undefined);
  });
});
