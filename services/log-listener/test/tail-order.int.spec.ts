/**
 * The live tail's catch-up (`after=`, then `cursor=`) returns every line a reader has not seen,
 * whatever order the batches commit in. Line ids come from one sequence, but two writers (two
 * replicas, or two batches in flight) commit in any order: here a second writer takes the lower id
 * and is held inside its transaction (by a latch) while the app's writer stores a higher id, commits
 * and publishes it to the owner's live tail. The reader saw that line; the held batch commits; the
 * reader catches up from the line it saw. Reading by id (`id > after`), the lower id was skipped
 * forever. The same holds between two pages of a catch-up (the `cursor`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logProcedures as P, type LogEventsPage, type LogRealtimeEvent } from '@veche/contracts';
import { isVecheError } from '@veche/errors';
import { connectWampClient, eventually } from '@veche/testing';
import { heldBatch, startHarness, testLine as line, tokenOf, type Harness } from './support/harness.ts';

let h: Harness;

before(async () => {
  h = await startHarness(import.meta.filename);
});

after(async () => {
  await h?.close();
});

const events = (sourceId: string, query: Record<string, unknown>) =>
  h.call<LogEventsPage>('tess', P.events, { sourceId, ...query });

describe('live tail catch-up in commit order', { timeout: 60_000 }, () => {
  it('returns a line committed after the one the reader saw, with a lower id', async () => {
    const source = await h.createSource('tess');
    const client = await connectWampClient(h.router.url, 'tess', tokenOf('tess'));
    const tailed: string[] = [];
    await client.session.subscribe('veche.user.tess.logs', (_args, kwargs) => {
      const event = kwargs as LogRealtimeEvent;
      if (event.type === 'lines') tailed.push(...event.events.map((e) => e.id));
    });

    const lower = await heldBatch(h, line(source, 'held (the lower id)'));
    h.app.writer.add(line(source, 'committed first (the higher id)'));
    await h.app.writer.flush();
    // The reader sees the higher id live, then goes away.
    await eventually(() => tailed.length === 1, { message: 'the live line' });
    client.close();
    const seen = tailed[0]!;

    await lower.release();
    const caughtUp = await events(source.sourceId, { after: seen, limit: 100 });
    assert.deepEqual(
      caughtUp.events.map((e) => e.message),
      ['held (the lower id)'],
    );
    assert.ok(BigInt(caughtUp.events[0]!.id) < BigInt(seen), 'the held batch took the lower id');
    assert.ok(caughtUp.cursor, 'a catch-up answers with its position');

    // Between two pages of a catch-up: a page reads a higher id while a lower one is still held.
    const lower2 = await heldBatch(h, line(source, 'held again (lower id)'));
    h.app.writer.add(line(source, 'committed again (higher id)'));
    await h.app.writer.flush();
    const page = await events(source.sourceId, { cursor: caughtUp.cursor, limit: 100 });
    assert.deepEqual(
      page.events.map((e) => e.message),
      ['committed again (higher id)'],
    );
    await lower2.release();
    const next = await events(source.sourceId, { cursor: page.cursor, limit: 100 });
    assert.deepEqual(
      next.events.map((e) => e.message),
      ['held again (lower id)'],
    );
    // Nothing more, and nothing twice.
    const end = await events(source.sourceId, { cursor: next.cursor, limit: 100 });
    assert.deepEqual(end.events, []);
  });

  it('pages a catch-up by its cursor: each line once, committed order', async () => {
    const source = await h.createSource('tess', { name: 'paged' });
    for (let i = 0; i < 7; i++) h.app.writer.add(line(source, `line ${i}`));
    await h.app.writer.flush();
    for (let i = 7; i < 10; i++) h.app.writer.add(line(source, `line ${i}`));
    await h.app.writer.flush();
    const read: string[] = [];
    let page = await events(source.sourceId, { after: '0', limit: 3 });
    read.push(...page.events.map((e) => e.message));
    for (let pages = 0; pages < 10 && page.events.length > 0; pages++) {
      page = await events(source.sourceId, { cursor: page.cursor, limit: 3 });
      read.push(...page.events.map((e) => e.message));
    }
    assert.deepEqual(
      read,
      Array.from({ length: 10 }, (_, i) => `line ${i}`),
    );
    // A page from the middle by the line seen: the lines after it.
    const all = await events(source.sourceId, { limit: 10 });
    const fourth = [...all.events].reverse()[3]!;
    const rest = await events(source.sourceId, { after: fourth.id, limit: 100 });
    assert.deepEqual(
      rest.events.map((e) => e.message),
      Array.from({ length: 6 }, (_, i) => `line ${i + 4}`),
    );
  });

  it('refuses a cursor with before or after, and one that is not a catch-up position', async () => {
    const source = await h.createSource('tess', { name: 'refused' });
    await assert.rejects(events(source.sourceId, { after: '1', cursor: '1:1:.0.1.0' }), /one of before/);
    // Well-formed text that is no snapshot (xmin above xmax, an id out of range): refused, not a 500.
    for (const cursor of ['drop table', '9:1:.0.1.0', '1:9:12.0.1.0', '1:1:.0.99999999999999999999.0']) {
      await assert.rejects(events(source.sourceId, { cursor }), (error: unknown) => {
        assert.ok(isVecheError(error, 'validation'), String(error));
        return true;
      });
    }
  });
});
