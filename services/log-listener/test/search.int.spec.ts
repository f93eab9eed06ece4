/**
 * Search on large sources: a closed day's partition gets a trigram GIN index from the maintenance
 * round (the open day none: it would cost the ingest about 4×), and `q` on such a day is answered
 * through it, as EXPLAIN shows; the open day is read by `(source_id, id)`. The results are the same
 * either way: every matching line of both days, newest first, with highlights.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { logProcedures as P, type LogEventsPage, type LogSource } from '@veche/contracts';
import { sql } from '@veche/db';
import { eventsQuery } from '../src/api/logs-api.ts';
import type { LineRecord } from '../src/ingest/writer.ts';
import { searchIndexOf } from '../src/maintenance.ts';
import { startHarness, type Harness } from './support/harness.ts';

let h: Harness;

before(async () => {
  // Maintenance rounds run only when the test asks.
  h = await startHarness(import.meta.filename, { overrides: { LOGS_MAINTENANCE_MS: '3600000' } });
});

after(async () => {
  await h?.close();
});

const dayMs = 86_400_000;
const partitionOf = (ms: number): string =>
  `log_lines_${new Date(ms).toISOString().slice(0, 10).replaceAll('-', '')}`;

function line(source: LogSource, receivedAt: number, message: string): LineRecord {
  return {
    sourceId: source.sourceId,
    ownerId: source.ownerId,
    userId: source.userId,
    receivedAt,
    createdAt: receivedAt,
    senderIp: '10.0.0.7',
    fileName: 'nginx.log',
    message,
    severity: 6,
    facility: 1,
    hostname: 'web-1',
    appName: 'nginx',
    truncated: false,
    invalidUtf8: false,
  };
}

async function indexesOf(partition: string): Promise<string[]> {
  const rows = await sql<{ name: string }>`
    select indexname as name from pg_indexes
    where schemaname = ${h.database.schema} and tablename = ${partition} order by indexname`.execute(
    h.database.db,
  );
  return rows.rows.map((r) => r.name);
}

describe('search', { timeout: 120_000 }, () => {
  it('uses a trigram index on closed days, made by the maintenance round, and scans the open day', async () => {
    const source = await h.createSource('sam');
    const noisy = await h.createSource('sid');
    const yesterday = Date.now() - dayMs;
    const closed = partitionOf(yesterday);
    const open = partitionOf(Date.now());
    // A large closed day: 60,000 ordinary lines of the source (and as many of another), three matches.
    for (let i = 0; i < 60_000; i++) {
      h.app.writer.add(line(source, yesterday + i, `GET /api/items/${i} 200 in ${i % 97} ms`));
      h.app.writer.add(line(noisy, yesterday + i, `GET /static/app.${i}.js 304`));
      if (i % 20_000 === 1) {
        h.app.writer.add(line(source, yesterday + i, `worker ${i}: Kernel PANIC - not syncing (50%_done)`));
      }
    }
    h.app.writer.add(line(source, Date.now(), 'kernel panic - not syncing again today (50%_done)'));
    h.app.writer.add(line(source, Date.now(), 'all quiet today'));
    await h.app.writer.flush();

    const round = await h.app.maintenance.runOnce();
    assert.equal(round.indexedPartition, closed);
    assert.ok((await indexesOf(closed)).includes(searchIndexOf(closed)));
    assert.ok(!(await indexesOf(open)).includes(searchIndexOf(open)), 'the open day has no trigram index');
    // Built once: the next round has nothing to index.
    assert.equal((await h.app.maintenance.runOnce()).indexedPartition, undefined);

    // The planner's statistics, as autovacuum keeps them for a day's bulk of lines.
    await sql`analyze ${sql.table(closed)}`.execute(h.database.db);
    const query = { sourceId: source.sourceId, q: 'kernel panic - not syncing' };
    const plan = await eventsQuery(h.database, query, 30).limit(101).explain();
    const text = plan.map((row) => String(row['QUERY PLAN'])).join('\n');
    assert.match(text, new RegExp(`Bitmap Index Scan on ${searchIndexOf(closed)}`), text);
    assert.doesNotMatch(text, new RegExp(`Seq Scan on ${closed}`), text);

    const page = await h.call<LogEventsPage>('sam', P.events, query);
    assert.deepEqual(
      page.events.map((e) => e.message),
      [
        'kernel panic - not syncing again today (50%_done)',
        'worker 40001: Kernel PANIC - not syncing (50%_done)',
        'worker 20001: Kernel PANIC - not syncing (50%_done)',
        'worker 1: Kernel PANIC - not syncing (50%_done)',
      ],
    );
    assert.equal(page.isOldestEventReached, true);
    assert.deepEqual(page.events[1]!.highlights, [[14, 40]]);
    // LIKE's wildcards in `q` are text, on the indexed day as on the open one.
    const literal = await h.call<LogEventsPage>('sam', P.events, {
      sourceId: source.sourceId,
      q: '50%_done',
    });
    assert.equal(literal.events.length, 4);
    const none = await h.call<LogEventsPage>('sam', P.events, { sourceId: source.sourceId, q: '50%done' });
    assert.equal(none.events.length, 0);
  });
});
