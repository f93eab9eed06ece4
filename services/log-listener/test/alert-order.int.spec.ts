/**
 * Alerts see every stored line, whatever order the batches commit in. Line ids come from one sequence,
 * but two writers (two replicas, or two batches in flight) commit in any order: here a second writer
 * takes the lower id and is held inside its transaction (by a latch) while the app's writer stores a
 * line with a higher id and commits. A round of the evaluator then runs; the held batch commits; the
 * alert (threshold 2) must fire with both lines. Reading by id, the round after the higher id had
 * moved past the lower one, which was never counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logAlertProcedures as AP, type LogAlert, type LogSource } from '@veche/contracts';
import { sql } from '@veche/db';
import { eventually } from '@veche/testing';
import { runsOf } from '../src/ingest/writer.ts';
import { mergedRanges } from '../src/alerts/evaluator.ts';
import { heldBatch, startHarness, testLine, type Harness } from './support/harness.ts';

let h: Harness;

before(async () => {
  // Rounds run only when the test asks (the timer's first one is a minute away).
  h = await startHarness(import.meta.filename, { overrides: { LOGS_ALERT_EVAL_MS: '60000' } });
});

after(async () => {
  await h?.close();
});

const line = (source: Pick<LogSource, 'sourceId' | 'ownerId' | 'userId'>, message: string) =>
  testLine(source, message, { fileName: 'disk.log', severity: 3, hostname: 'db-1', appName: 'disk.log' });

const firings = async (alertId: string) =>
  (await h.app.store.readStream(`logalert-${alertId}`)).filter((e) => e.type === 'logs.alert_fired');

describe('alert evaluation in commit order', { timeout: 60_000 }, () => {
  it('counts a line committed after a round with a lower id than that round read', async () => {
    const source = await h.createSource('una');
    const alert = await h.call<LogAlert>('una', AP.createAlert, {
      sourceId: source.sourceId,
      name: 'disk full',
      filter: { q: 'disk full' },
      threshold: 2,
      windowSeconds: 600,
    });

    // Another writer (as another replica's) takes its id first and is held before its commit.
    const other = await heldBatch(h, line(source, 'disk full on /var (the lower id)'));

    // The app's writer stores the higher id and commits first.
    h.app.writer.add(line(source, 'disk full on /srv (the higher id)'));
    await h.app.writer.flush();
    const visible = await sql<{ id: number; message: string }>`
      select id, message from log_lines where source_id = ${source.sourceId}`.execute(h.database.db);
    assert.deepEqual(
      visible.rows.map((r) => r.message),
      ['disk full on /srv (the higher id)'],
    );

    // A round while the lower id is still uncommitted: one line of two, nothing fires.
    await h.app.evaluator.runOnce();
    assert.equal((await firings(alert.alertId)).length, 0);

    await other.release();
    const stored = await sql<{ id: number; message: string }>`
      select id, message from log_lines where source_id = ${source.sourceId} order by id`.execute(
      h.database.db,
    );
    assert.deepEqual(
      stored.rows.map((r) => r.message),
      ['disk full on /var (the lower id)', 'disk full on /srv (the higher id)'],
    );

    // The next rounds count it: the alert fires with both lines (a round waits while any transaction
    // older than the held one's is still open somewhere on the server: hence eventually).
    const [fired] = await eventually(
      async () => {
        await h.app.evaluator.runOnce();
        const found = await firings(alert.alertId);
        return found.length > 0 ? found : undefined;
      },
      { message: 'the alert fired' },
    );
    const data = fired!.data as {
      matches: number;
      samples: { id: string; message: string }[];
      upToLineId: string;
    };
    assert.equal(data.matches, 2);
    assert.deepEqual(
      data.samples.map((s) => s.message),
      ['disk full on /srv (the higher id)', 'disk full on /var (the lower id)'],
    );
    assert.equal(data.upToLineId, String(stored.rows[1]!.id));

    // Counted once: more rounds do not fire again on the same lines.
    await h.app.evaluator.runOnce();
    assert.equal((await firings(alert.alertId)).length, 1);
  });

  it('reads a batch by the runs of consecutive ids it stored, merged when adjacent', () => {
    const source = { sourceId: 'a', ownerId: 'o', userId: 'h:1' };
    const other = { sourceId: 'b', ownerId: 'o', userId: 'h:2' };
    const batch = [line(source, '1'), line(other, '2'), line(source, '3'), line(other, '4')];
    // Ids 10, 11, then another writer's 12-13, then 14, 15.
    const runs = runsOf(batch, ['10', '11', '14', '15']);
    assert.deepEqual(
      runs.map((r) => [r.sourceId, r.firstId, r.lastId]),
      [
        ['a', '10', '11'],
        ['b', '10', '11'],
        ['a', '14', '15'],
        ['b', '14', '15'],
      ],
    );
    const at = new Date();
    const ranges = mergedRanges([
      { first_id: 14, last_id: 15, received_from: at, received_to: at },
      { first_id: 10, last_id: 11, received_from: at, received_to: at },
      { first_id: 12, last_id: 13, received_from: at, received_to: at },
      { first_id: 20, last_id: 20, received_from: at, received_to: at },
    ]);
    assert.deepEqual(
      ranges.map((r) => [r.first, r.last]),
      [
        [10, 15],
        [20, 20],
      ],
    );
  });
});
