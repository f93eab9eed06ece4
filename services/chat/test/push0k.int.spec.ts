/**
 * The push0k benchmark's scenario at CI size: 5 users in one room, each posting 300 messages with many
 * in flight; every message reaches the other 4 exactly once and in order, and every delivery ends up
 * acknowledged by a persisted delivery mark.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
import { startHarness, type Harness } from './support/harness.ts';
import { runPush0k } from './support/push0k-scenario.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename);
});
after(() => h.close());

it('push0k at CI size: no delivery lost or duplicated, every delivery acknowledged and persisted', async () => {
  const ids = ['pa', 'pb', 'pc', 'pd', 'pe'];
  const users = await Promise.all(ids.map((id) => h.user(id)));
  const { roomId } = await h.call<{ roomId: string }>('pa', 'createRoom', {
    name: 'push0k',
    visibility: 'public',
  });
  for (const id of ids.slice(1)) await h.call(id, 'joinRoom', { roomId });
  const result = await runPush0k({
    users,
    roomId,
    messagesPerUser: 300,
    inFlight: 50,
    call: (userId, procedure, input) => h.call(userId, procedure, input),
    // A bound, not a pace: on a loaded CI host the 1,500 posts can take a minute or more.
    timeoutMs: 150_000,
    persistedMarks: async () => {
      const { rows } = await sql<{ user_id: string; delivered_up_to: number }>`
        select user_id, delivered_up_to from receipts where room_id = ${roomId}`.execute(h.database.db);
      return new Map(rows.map((row) => [row.user_id, row.delivered_up_to]));
    },
  });
  assert.equal(result.deliveries, 5 * 4 * 300);
  assert.equal(result.lost, 0);
  assert.equal(result.duplicated, 0);
  assert.equal(result.outOfOrder, 0);
  assert.equal(result.receiptsPersisted, true);
  assert.equal(result.lastSeq, 1 + 5 + 1500, 'room created, 5 joins, 1500 messages: contiguous seq');
});
