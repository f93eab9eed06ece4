/**
 * A WAMP router restart: the chat's session reconnects and registers its procedures again, the
 * realtime relay republishes what it had not had acknowledged, and a client that reconnects catches up
 * by seq: every message exactly once, in order.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { eventually } from '@veche/testing';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, { http: false });
});
after(() => h.close());

it('survives a router restart with nothing lost or duplicated', async () => {
  const { roomId } = await h.call<{ roomId: string }>('rr-a', 'createRoom', {
    name: 'Restart',
    visibility: 'public',
  });
  await h.call('rr-b', 'joinRoom', { roomId });
  let bob = await h.user('rr-b');
  // Posted in-process right before the router goes away: committed, perhaps not yet published.
  const actor = { userId: 'rr-a', role: 'user' as const };
  for (let i = 0; i < 20; i += 1)
    await h.app.chat.postMessage(actor, { roomId, text: `m${i}`, idempotencyKey: `m${i}` });
  await h.restartRouter(500);
  for (let i = 20; i < 30; i += 1)
    await h.app.chat.postMessage(actor, { roomId, text: `m${i}`, idempotencyKey: `m${i}` });
  bob.close();
  bob = await h.user('rr-b');
  // The procedures are served again through the new router.
  await eventually(
    async () =>
      (await h.call<{ rooms: unknown[] }>('rr-b', 'sync').catch(() => ({ rooms: [] }))).rooms.length === 1,
    { timeoutMs: 20_000, message: 'chat serves calls through the new router' },
  );
  await h.app.chat.postMessage(actor, { roomId, text: 'm30', idempotencyKey: 'm30' });
  await eventually(() => bob.ofType('message_posted', roomId).some((e) => e['text'] === 'm30'), {
    timeoutMs: 40_000,
    message: 'realtime flows again',
  });
  const bySeq = new Map<number, string>();
  for (const event of bob.ofType('message_posted', roomId)) bySeq.set(event.seq!, String(event['text']));
  const page = await h.call<{ messages: { seq: number; text: string }[] }>('rr-b', 'listMessages', {
    roomId,
    after: 0,
    limit: 100,
  });
  for (const message of page.messages) if (!bySeq.has(message.seq)) bySeq.set(message.seq, message.text);
  const texts = [...bySeq.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text);
  assert.deepEqual(
    texts,
    Array.from({ length: 31 }, (_, i) => `m${i}`),
  );
});
