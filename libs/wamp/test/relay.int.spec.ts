import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '@veche/db';
import {
  compareCheckpoints,
  createEventStore,
  eventStoreMigrations,
  type Checkpoint,
  type EventStore,
  type RecordedEvent,
} from '@veche/event-store';
import { createTestDatabase, eventually, type TestDatabase } from '@veche/testing';
import { userTopic } from '@veche/wamp-policy';
import type { WampRouter } from '@veche/wamp-router';
import {
  createRealtimeRelay,
  type RealtimeMessage,
  type RealtimeRelay,
  type WampService,
} from '../src/index.ts';
import { capturedLogger, connectTestService, startTestRouter } from './support.ts';

/** Chat's routing, reduced: a posted message goes to every member named in the event. */
function route(event: RecordedEvent): RealtimeMessage[] {
  if (event.type !== 'chat.message_posted') return [];
  const data = event.data as { roomId: string; seq: number; text: string; members: string[] };
  return data.members.map((member) => ({
    topic: userTopic(member, 'rooms'),
    payload: { type: 'message_posted', roomId: data.roomId, seq: data.seq, text: data.text },
  }));
}

const posted = (seq: number, members: string[]) => ({
  type: 'chat.message_posted',
  data: { roomId: 'room-1', seq, text: `message ${seq}`, members },
});

const at = (event: RecordedEvent): Checkpoint => ({
  transactionId: event.transactionId,
  globalPosition: event.globalPosition,
});

describe('realtime relay', () => {
  const { log } = capturedLogger('silent');
  let database: TestDatabase;
  let store: EventStore;
  let router: WampRouter;
  let publisher: WampService;
  let subscriber: WampService;
  const inbox = new Map<string, unknown[]>();
  const relays: RealtimeRelay[] = [];

  const startRelay = async () => {
    const relay = createRealtimeRelay({
      database,
      store,
      log,
      session: publisher,
      route,
      pollIntervalMs: 50,
      leaseRetryMs: 100,
      publishTimeoutMs: 300,
    });
    await relay.start();
    relays.push(relay);
    return relay;
  };

  before(async () => {
    // Pool of three plus one lock connection per relay.
    database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
    await migrate(database, eventStoreMigrations);
    store = createEventStore({ database, log, maxConcurrentBatches: 1 });
    router = await startTestRouter(log);
    publisher = await connectTestService(router.url, 'chat', log, { defaultTimeoutMs: 500 });
    subscriber = await connectTestService(router.url, 'watcher', log);
    for (const user of ['1', '2', '3']) {
      inbox.set(user, []);
      await subscriber.subscribe(userTopic(user, 'rooms'), (payload) => inbox.get(user)!.push(payload));
    }
  });

  after(async () => {
    for (const relay of relays) await relay.stop();
    await subscriber.close();
    await publisher.close();
    await router.close();
    await store.close();
    await database.drop();
  });

  it('publishes each committed event to its members’ topics, in log order, then moves the checkpoint', async () => {
    const relay = await startRelay();
    const { events } = await store.append('room-1', [
      posted(1, ['1', '2']),
      posted(2, ['2']),
      posted(3, ['1']),
    ]);
    await eventually(() => inbox.get('1')!.length === 2 && inbox.get('2')!.length === 2, {
      timeoutMs: 10_000,
      message: 'the publications',
    });
    assert.deepEqual(
      inbox.get('1')!.map((payload) => (payload as { seq: number }).seq),
      [1, 3],
    );
    assert.deepEqual(inbox.get('2'), [
      { type: 'message_posted', roomId: 'room-1', seq: 1, text: 'message 1' },
      { type: 'message_posted', roomId: 'room-1', seq: 2, text: 'message 2' },
    ]);
    assert.deepEqual(inbox.get('3'), []);
    await eventually(async () => compareCheckpoints(await relay.checkpoint(), at(events.at(-1)!)) >= 0, {
      message: 'the checkpoint after the acknowledgements',
    });
    await relay.stop();
  });

  it('publishes what was committed while no relay ran: nothing is lost between commit and publish', async () => {
    const { events } = await store.append('room-1', [posted(4, ['3'])]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(inbox.get('3'), [], 'no relay, no publication');
    const relay = await startRelay();
    await eventually(() => inbox.get('3')!.length === 1, {
      timeoutMs: 10_000,
      message: 'the late publication',
    });
    await eventually(async () => compareCheckpoints(await relay.checkpoint(), at(events[0]!)) >= 0, {
      message: 'the checkpoint after the acknowledgement',
    });
    await relay.stop();
  });

  it('keeps its checkpoint while the router is down and catches up when it is back', async () => {
    const relay = await startRelay();
    const before = await relay.checkpoint();
    const port = router.port;
    await router.close();
    await eventually(() => !publisher.isConnected, { timeoutMs: 5_000, message: 'the publisher to notice' });
    const { events } = await store.append('room-1', [posted(5, ['1']), posted(6, ['1'])]);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // several failed attempts
    assert.equal(compareCheckpoints(await relay.checkpoint(), before), 0, 'no acknowledgement, no progress');

    router = await startTestRouter(log, port);
    await eventually(async () => compareCheckpoints(await relay.checkpoint(), at(events.at(-1)!)) >= 0, {
      timeoutMs: 15_000,
      message: 'the checkpoint after the router came back',
    });
    await relay.stop();
  });
});
