/**
 * Back-pressure is not idleness: while PostgreSQL holds the writer (here: a lock on `log_lines`), the
 * writer fills, every sender socket is paused, and a paused sender must not be closed as idle however
 * long the database takes; once the lock goes, every line it sent is stored. (Silence of its own
 * after that is idleness again.)
 */
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { logProcedures as P, type LogEventsPage, type LogSource } from '@veche/contracts';
import { eventually } from '@veche/testing';
import { sender, startHarness, write, type Harness } from './support/harness.ts';

let h: Harness;
before(async () => {
  h = await startHarness(import.meta.filename, {
    overrides: { LOGS_IDLE_MS: '1000', LOGS_MAX_PENDING_LINES: '100', LOGS_BATCH_LINES: '10' },
  });
});
after(() => h?.close());

it('a sender paused while the database is held is not closed as idle, and loses nothing', async () => {
  const s = await h.createSource('patient');
  const socket = await sender(s.port);
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});

  const blocker = await h.database.connect();
  await blocker.query('begin');
  await blocker.query('lock table log_lines in access exclusive mode');
  const lines = Array.from({ length: 500 }, (_, i) => `<13>app: line ${i}\n`).join('');
  await write(socket, lines);
  await eventually(() => h.app.writer.isFull, { message: 'the writer is full and senders paused' });

  // Three idle limits pass while the sender is held back by us (its silence is ours, not its own).
  const heldUntil = Date.now() + 3 * h.config.LOGS_IDLE_MS;
  while (Date.now() < heldUntil) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(closed, false, 'a paused sender was closed as idle');
  }
  await blocker.query('rollback');
  await blocker.end();

  const page = await eventually(
    async () => {
      const p = await h.call<LogEventsPage>('patient', P.events, { sourceId: s.sourceId, limit: 500 });
      return p.events.length === 500 ? p : undefined;
    },
    { message: 'all 500 lines stored', timeoutMs: 60_000 },
  );
  assert.deepEqual(
    new Set(page.events.map((e) => e.message)),
    new Set(Array.from({ length: 500 }, (_, i) => `line ${i}`)),
  );
  const counters = (await h.call<LogSource>('patient', P.getSource, { sourceId: s.sourceId })).counters;
  assert.equal(counters.received, 500);
  socket.destroy();
});
