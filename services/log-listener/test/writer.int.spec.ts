/**
 * The writer's COPY path on a real schema: text COPY treats backslash, tab, CR and LF as syntax, so
 * lines holding them (octet-counted frames may carry any byte but NUL) must come back exactly as
 * received, with the ids the live tail was told, in arrival order.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LogEvent } from '@veche/contracts';
import { migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { createTestDatabase, type TestDatabase } from '@veche/testing';
import { logsMigrations } from '../migrations/index.ts';
import { copyField } from '../src/ingest/copy.ts';
import { createWriter, type LineRecord } from '../src/ingest/writer.ts';

let database: TestDatabase;
before(async () => {
  database = await createTestDatabase({ name: import.meta.filename, poolSize: 3 });
  await migrate(database, logsMigrations);
});
after(() => database?.drop());

const awkward = [
  'tab\there',
  'line\nfeed and\r\ncrlf',
  'back\\slash \\N \\. \\t literal',
  '\\.',
  '\\N',
  'unicode ✓ Ωμέγα 日本 \u{1F600}',
  '',
  'ends with a backslash \\',
];

describe('log writer (COPY)', () => {
  it('stores awkward text exactly, nulls as nulls, with the published ids in arrival order', async () => {
    const sourceId = randomUUID();
    await sql`insert into source_counters (source_id) values (${sourceId})`.execute(database.db);
    const published: LogEvent[] = [];
    const writer = createWriter({
      database,
      log: createLogger({ service: 'writer-test', level: 'silent' }),
      batchLines: 3,
      flushMs: 5,
      maxPending: 1_000,
      onCommitted: (_owner, _source, events) => published.push(...events),
    });
    const now = Date.now();
    const records: LineRecord[] = awkward.map((message, i) => ({
      sourceId,
      ownerId: 'alice',
      userId: '127.0.0.1:1',
      receivedAt: now + i,
      createdAt: now - 1000 + i,
      senderIp: '10.0.0.\t1',
      fileName: i % 2 ? 'file\\name' : '-',
      message,
      severity: i % 2 ? null : 3,
      facility: i % 2 ? null : 16,
      hostname: i % 2 ? null : 'host\nname',
      appName: i % 2 ? null : 'app',
      truncated: i === 1,
      invalidUtf8: i === 2,
    }));
    for (const record of records) writer.add(record);
    await writer.stop();

    const { rows } = await sql<{
      id: string;
      message: string;
      file_name: string;
      sender_ip: string;
      hostname: string | null;
      app_name: string | null;
      severity: number | null;
      facility: number | null;
      truncated: boolean;
      invalid_utf8: boolean;
      received_at: Date;
      created_at: Date;
    }>`select id::text, message, file_name, sender_ip, hostname, app_name, severity, facility, truncated, invalid_utf8,
              received_at, created_at
       from log_lines where source_id = ${sourceId} order by log_lines.id`.execute(database.db);
    assert.deepEqual(
      rows.map((r) => [
        r.message,
        r.file_name,
        r.sender_ip,
        r.hostname,
        r.app_name,
        r.severity,
        r.facility,
        r.truncated,
        r.invalid_utf8,
        r.received_at.getTime(),
        r.created_at.getTime(),
      ]),
      records.map((r) => [
        r.message,
        r.fileName,
        r.senderIp,
        r.hostname,
        r.appName,
        r.severity,
        r.facility,
        r.truncated,
        r.invalidUtf8,
        r.receivedAt,
        r.createdAt,
      ]),
    );
    assert.deepEqual(
      published.map((e) => [e.id, e.message]),
      rows.map((r) => [r.id, r.message]),
    );
    const ids = rows.map((r) => Number(r.id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
    const counters = await sql<{ received: string; truncated: string; invalid_utf8: string }>`
      select received::text, truncated::text, invalid_utf8::text from source_counters where source_id = ${sourceId}`.execute(
      database.db,
    );
    assert.deepEqual(counters.rows[0], {
      received: String(awkward.length),
      truncated: '1',
      invalid_utf8: '1',
    });
  });

  it('copyField escapes exactly the characters COPY text format reads as syntax', () => {
    assert.equal(copyField(null), '\\N');
    assert.equal(copyField(7), '7');
    assert.equal(copyField('a\\b\tc\nd\re'), 'a\\\\b\\tc\\nd\\re');
    assert.equal(copyField('plain "quoted" text, with commas'), 'plain "quoted" text, with commas');
  });

  describe('two batches in flight', () => {
    const line = (sourceId: string, i: number): LineRecord => ({
      sourceId,
      ownerId: 'alice',
      userId: '127.0.0.1:1',
      receivedAt: Date.now(),
      createdAt: Date.now(),
      senderIp: '10.0.0.1',
      fileName: '-',
      message: `line ${i}`,
      severity: 6,
      facility: 1,
      hostname: 'web-1',
      appName: 'app',
      truncated: false,
      invalidUtf8: false,
    });
    const stored = async (sourceId: string) =>
      (
        await sql<{ id: string; message: string }>`
          select id::text, message from log_lines where source_id = ${sourceId} order by log_lines.id`.execute(
          database.db,
        )
      ).rows.map((r) => [r.id, r.message]);

    /**
     * Four lines of a new source in batches of 2, two in flight; `hook` runs inside each attempt's
     * transaction after its COPY (call 1: the first batch's first attempt); `whileRunning` acts while
     * they are being written. Asserts each line stored once in arrival (id) order, published in that
     * order, and counted; resolves with the number of attempts.
     */
    async function writeFour(
      hook: (call: number) => Promise<void>,
      whileRunning?: (sourceId: string, published: readonly LogEvent[]) => Promise<void>,
    ) {
      const sourceId = randomUUID();
      await sql`insert into source_counters (source_id) values (${sourceId})`.execute(database.db);
      const published: LogEvent[] = [];
      let calls = 0;
      const writer = createWriter({
        database,
        log: createLogger({ service: 'writer-test', level: 'silent' }),
        batchLines: 2,
        flushMs: 1,
        maxPending: 1_000,
        concurrency: 2,
        onCommitted: (_owner, _source, events) => published.push(...events),
        afterLines: () => hook(++calls),
      });
      for (let i = 0; i < 4; i++) writer.add(line(sourceId, i));
      const flushed = writer.flush();
      try {
        await whileRunning?.(sourceId, published);
      } finally {
        await flushed;
        await writer.stop();
      }
      const rows = await stored(sourceId);
      // Every line once, in arrival order by id, published in that order after its commit.
      assert.deepEqual(
        rows.map((r) => r[1]),
        ['line 0', 'line 1', 'line 2', 'line 3'],
      );
      assert.deepEqual(
        published.map((e) => [e.id, e.message]),
        rows,
      );
      const counters = await sql<{ received: string }>`
        select received::text from source_counters where source_id = ${sourceId}`.execute(database.db);
      assert.equal(counters.rows[0]?.received, '4');
      return { calls };
    }

    it('the second copies while the first is held, but commits and is published only after it', async () => {
      let open!: () => void;
      const latch = new Promise<void>((resolve) => (open = resolve));
      let reachedBoth!: () => void;
      const both = new Promise<void>((resolve) => (reachedBoth = resolve));
      await writeFour(
        async (call) => {
          if (call === 2) reachedBoth();
          // The first batch waits (inside its transaction) until the second has copied its lines too.
          if (call === 1) await latch;
        },
        async (sourceId, published) => {
          try {
            await both;
            // Both transactions are open: nothing committed, nothing published.
            assert.deepEqual(await stored(sourceId), []);
            assert.equal(published.length, 0);
          } finally {
            // Never left open when the check fails: a held transaction stalls the whole server's readers.
            open();
          }
        },
      );
    });

    it('a failed batch rolls back the one behind it; both are written again in order, once', async () => {
      let reachedSecond!: () => void;
      const second = new Promise<void>((resolve) => (reachedSecond = resolve));
      const { calls } = await writeFour(async (call) => {
        if (call === 2) reachedSecond();
        // The first batch fails once the second has its lines in its own transaction.
        if (call === 1) {
          await second;
          throw new Error('the database went away');
        }
      });
      assert.ok(calls >= 4, `the batches were written again (${calls} attempts)`);
    });
  });
});
