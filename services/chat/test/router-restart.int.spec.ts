/**
 * Infrastructure restarts. A WAMP router restart: the chat's session reconnects and registers its procedures again, the
 * realtime relay republishes what it had not had acknowledged, and a client that reconnects catches up
 * by seq: every message exactly once, in order.
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from '@veche/db';
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
  const before = await h.user('rr-b');
  // Posted in-process right before the router goes away: committed, perhaps not yet published.
  const actor = { userId: 'rr-a', role: 'user' as const };
  for (let i = 0; i < 20; i += 1)
    await h.app.chat.postMessage(actor, { roomId, text: `m${i}`, idempotencyKey: `m${i}` });
  await h.restartRouter(500);
  // The first client's connection died with the router (it does not reconnect): what it holds is a
  // prefix of the room, cut where the router went away, and never with a hole in it.
  const seen = new Map<number, string>();
  for (const event of before.ofType('message_posted', roomId)) seen.set(event.seq!, String(event['text']));
  before.close();
  const highWater = (await committedSeqs(roomId)).filter((seq) => seen.has(seq)).at(-1) ?? 0;
  for (const seq of await committedSeqs(roomId, { upTo: highWater }))
    assert.ok(seen.has(seq), `message ${seq} was published before ${highWater} yet never arrived`);

  // The client reconnects; every message committed after it subscribed must come by realtime (the
  // relay republishes what the router took down with it), and only older ones from the catch-up.
  const bob = await h.user('rr-b');
  const subscribedAt = (await committedSeqs(roomId)).at(-1) ?? 0;
  for (let i = 20; i < 30; i += 1)
    await h.app.chat.postMessage(actor, { roomId, text: `m${i}`, idempotencyKey: `m${i}` });
  // The procedures are served again through the new router.
  await eventually(
    async () =>
      (await h.call<{ rooms: unknown[] }>('rr-b', 'sync').catch(() => ({ rooms: [] }))).rooms.length === 1,
    { timeoutMs: 20_000, message: 'chat serves calls through the new router' },
  );
  await h.app.chat.postMessage(actor, { roomId, text: 'm30', idempotencyKey: 'm30' });
  const live = new Map<number, string>();
  const mustArrive = await committedSeqs(roomId, { after: subscribedAt });
  assert.equal(mustArrive.length >= 11, true, 'm20..m30 were committed after the client subscribed');
  await eventually(
    () => {
      for (const event of bob.ofType('message_posted', roomId)) live.set(event.seq!, String(event['text']));
      return mustArrive.every((seq) => live.has(seq));
    },
    {
      timeoutMs: 40_000,
      message: 'every message committed after the client subscribed arrives by realtime',
    },
  );

  // Catch-up as a client does it: everything after the last seq it holds, over the API.
  const page = await h.call<{ messages: { seq: number; text: string }[] }>('rr-b', 'listMessages', {
    roomId,
    after: highWater,
    limit: 100,
  });
  const caughtUp = new Map(page.messages.map((m) => [m.seq, m.text]));
  // Realtime and history agree wherever both have a message.
  for (const [seq, text] of live) if (caughtUp.has(seq)) assert.equal(caughtUp.get(seq), text);
  const merged = new Map([...seen, ...caughtUp, ...live]);
  const texts = [...merged.entries()].sort((a, b) => a[0] - b[0]).map(([, text]) => text);
  assert.deepEqual(
    texts,
    Array.from({ length: 31 }, (_, i) => `m${i}`),
  );
});

/** The seqs of the room's messages as committed, ascending (optionally only a range of them). */
async function committedSeqs(
  roomId: string,
  range: { after?: number; upTo?: number } = {},
): Promise<number[]> {
  const { rows } = await sql<{ seq: number }>`
    select seq from messages where room_id = ${roomId}
      and seq > ${range.after ?? 0} and seq <= ${range.upTo ?? 2_147_483_647}
    order by seq`.execute(h.database.db);
  return rows.map((row) => row.seq);
}

it('PostgreSQL cutting the chat’s connections: calls answer unavailable at worst, then work; nothing is lost', async () => {
  const { roomId } = await h.call<{ roomId: string }>('pg-a', 'createRoom', {
    name: 'PG',
    visibility: 'public',
  });
  const watcher = await h.user('pg-a');
  const results = new Map<number, string>();
  const codes = new Set<string>();
  const post = async (i: number) => {
    for (;;) {
      try {
        const r = await h.call<{ messageId: string }>('pg-a', 'postMessage', {
          roomId,
          text: `p${i}`,
          idempotencyKey: `p${i}`,
        });
        results.set(i, r.messageId);
        return;
      } catch (error) {
        codes.add((error as { code: string }).code);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  };
  const burst = Promise.all(Array.from({ length: 100 }, (_, i) => post(i)));
  await new Promise((resolve) => setTimeout(resolve, 20));
  // Every connection of this test's schema (pool, relays' lock sessions), as a restart would.
  await sql`select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = ${`test:${h.database.schema}`} and pid <> pg_backend_pid()`
    .execute(h.database.db)
    .catch(() => undefined);
  await burst;
  assert.equal(codes.has('internal'), false, `no internal errors (saw ${[...codes].join(', ') || 'none'})`);
  // The test's own pool lost its connections too: a query may still meet one the pool has not
  // noticed is gone ("Connection terminated unexpectedly"), so it is asked again.
  const stored = await eventually(
    async () =>
      Number(
        (
          await sql<{
            n: string;
          }>`select count(*) as n from messages where room_id = ${roomId}`.execute(h.database.db)
        ).rows[0]!.n,
      ),
    { message: 'the messages counted' },
  );
  assert.equal(stored, 100);
  await eventually(() => new Set(watcher.ofType('message_posted', roomId).map((e) => e.seq)).size === 100, {
    timeoutMs: 30_000,
    message: 'the realtime relay recovers',
  });
});
