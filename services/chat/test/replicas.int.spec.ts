/**
 * Two chat replicas on one schema and one router: posts to one room through both interleave without a
 * hole or a duplicate in `seq` (the room writer's expected versions make them retry, not overwrite),
 * one realtime relay publishes, and when its replica stops the other takes over.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
import { eventually } from '@veche/testing';
import type { ChatApp } from '../src/app.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
let second: ChatApp | undefined;
before(async () => {
  h = await startHarness(import.meta.filename, { http: false });
  second = h.newApp({ PORT: 0 });
  await second.start();
});
after(async () => {
  await second?.stop();
  await h.close();
});

it('two replicas share a room without seq holes or duplicates, and one takes over the realtime relay', async () => {
  const watcher = await h.user('rwatch');
  const { roomId } = await h.call<{ roomId: string }>('rowner', 'createRoom', {
    name: 'Replicas',
    visibility: 'public',
  });
  await h.call('rwatch', 'joinRoom', { roomId });
  // Each replica's own chat object, as two processes would serve calls.
  const actor = { userId: 'rowner', role: 'user' as const };
  const posts = Array.from({ length: 200 }, (_, i) =>
    (i % 2 === 0 ? h.app.chat : second!.chat).postMessage(actor, {
      roomId,
      text: `r${i}`,
      idempotencyKey: `r${i}`,
    }),
  );
  const results = await Promise.all(posts);
  const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
  assert.equal(new Set(seqs).size, 200, 'every post has its own seq');
  const { rows } = await sql<{ n: string; max: number }>`
    select count(*) as n, max(stream_version) as max from events where stream_id = ${`room-${roomId}`}`.execute(
    h.database.db,
  );
  assert.equal(Number(rows[0]!.n), rows[0]!.max, 'no hole');
  assert.equal(rows[0]!.max, 203, 'created, two joins, 200 posts');
  await eventually(() => watcher.ofType('message_posted', roomId).length === 200, {
    message: 'all 200 delivered',
  });

  // Stop the first replica (it holds the realtime relay, having started first): the second takes over.
  await h.app.stop();
  await second!.chat.postMessage(actor, { roomId, text: 'after', idempotencyKey: 'after' });
  await eventually(() => watcher.ofType('message_posted', roomId).some((e) => e['text'] === 'after'), {
    timeoutMs: 15_000,
    message: 'the second replica relays',
  });
});
