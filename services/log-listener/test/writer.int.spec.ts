/**
 * The writer's COPY path on a real schema: text COPY treats backslash, tab, CR and LF as syntax, so
 * lines holding them (octet-counted frames may carry any byte but NUL) must come back exactly as
 * received, with the ids the live tail was told, in arrival order.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LogEvent } from '@veche/contracts';
import { createDatabase, migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@veche/testing';
import { logsMigrations } from '../migrations/index.ts';
import { copyField } from '../src/ingest/copy.ts';
import { createWriter, type LineRecord, type Writer } from '../src/ingest/writer.ts';

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
     * Three lines of a new source, two in flight: the first batch holds lines 0 and 1, the second
     * line 2, so `hook` (run inside each attempt's transaction after its COPY) tells them apart by
     * their line count whichever reaches it first; `whileRunning` acts while they are being written.
     * Asserts each line stored once in arrival (id) order, published in that order, and counted;
     * resolves with the number of attempts.
     */
    async function writeThree(
      hook: (lines: number) => Promise<void>,
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
        afterLines: (lines) => {
          calls++;
          return hook(lines);
        },
      });
      for (let i = 0; i < 3; i++) writer.add(line(sourceId, i));
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
        ['line 0', 'line 1', 'line 2'],
      );
      assert.deepEqual(
        published.map((e) => [e.id, e.message]),
        rows,
      );
      const counters = await sql<{ received: string }>`
        select received::text from source_counters where source_id = ${sourceId}`.execute(database.db);
      assert.equal(counters.rows[0]?.received, '3');
      return { calls };
    }

    it('the second copies while the first is held, but commits and is published only after it', async () => {
      let open!: () => void;
      const latch = new Promise<void>((resolve) => (open = resolve));
      let firstHeld!: () => void;
      const held = new Promise<void>((resolve) => (firstHeld = resolve));
      let secondCopied!: () => void;
      const copied = new Promise<void>((resolve) => (secondCopied = resolve));
      await writeThree(
        async (lines) => {
          if (lines === 1) secondCopied();
          // The first batch waits (inside its transaction) until the second has copied its line too.
          if (lines === 2) {
            firstHeld();
            await latch;
          }
        },
        async (sourceId, published) => {
          try {
            await Promise.all([held, copied]);
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
      let secondCopied!: () => void;
      const copied = new Promise<void>((resolve) => (secondCopied = resolve));
      let failed = false;
      const { calls } = await writeThree(async (lines) => {
        if (lines === 1) secondCopied();
        // The first batch fails (once) when the second has its line in its own transaction.
        if (lines === 2 && !failed) {
          failed = true;
          await copied;
          throw new Error('the database went away');
        }
      });
      assert.ok(calls >= 4, `the batches were written again (${calls} attempts)`);
    });

    /**
     * A writer on a real PostgreSQL behind a proxy armed before `act` runs: it forwards the first
     * COMMIT and PostgreSQL's whole answer to it (ReadyForQuery) up to the proxy, then cuts the
     * writer's connection. `act` adds to the writer, which is then flushed and stopped, exactly one
     * answer cut off. Resolves with a new source's id and what the writer published.
     */
    const withLostCommitAnswer = async (act: (writer: Writer, sourceId: string) => Promise<void>) => {
      const proxy = await commitCuttingProxy(new URL(testDatabaseUrl()));
      const proxied = createDatabase({ url: proxy.url, schema: database.schema, poolSize: 4 });
      try {
        const sourceId = randomUUID();
        await sql`insert into source_counters (source_id) values (${sourceId})`.execute(database.db);
        const published: LogEvent[] = [];
        const writer = createWriter({
          database: proxied,
          log: createLogger({ service: 'writer-test', level: 'silent' }),
          batchLines: 2,
          flushMs: 1,
          maxPending: 1_000,
          concurrency: 2,
          onCommitted: (_owner, _source, events) => published.push(...events),
        });
        proxy.arm();
        await act(writer, sourceId);
        await writer.flush();
        await writer.stop();
        assert.equal(proxy.cuts, 1, 'one commit answer was cut off');
        return { sourceId, published };
      } finally {
        await proxied.close();
        await proxy.close();
      }
    };

    it('a batch whose commit went through but whose answer was lost is not written again', async () => {
      const { sourceId, published } = await withLostCommitAnswer(async (writer, sourceId) => {
        for (let i = 0; i < 4; i++) writer.add(line(sourceId, i));
      });
      const rows = await stored(sourceId);
      // Each line once (the committed batch was not written again), in order, each published once.
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
    });

    it('counters alone whose commit went through but whose answer was lost are not added again', async () => {
      // Refused connections while no line arrives: a batch of counters only, with no line to look up.
      const { sourceId } = await withLostCommitAnswer(async (writer, sourceId) => {
        writer.count(sourceId, 'rejected_connections', 3);
        writer.count(sourceId, 'closed_connections');
        await writer.flush();
        // Counted again after the cut: a later batch that commits normally.
        writer.count(sourceId, 'rejected_connections');
      });
      const counters = await sql<{ rejected: string; closed: string }>`
        select rejected_connections::text as rejected, closed_connections::text as closed
        from source_counters where source_id = ${sourceId}`.execute(database.db);
      assert.deepEqual(counters.rows[0], { rejected: '4', closed: '1' });
    });

    it('the queue holds what the write rate stores in maxWaitMs: past it senders pause, at half they resume', async () => {
      const sourceId = randomUUID();
      await sql`insert into source_counters (source_id) values (${sourceId})`.execute(database.db);
      let hold: (() => Promise<void>) | undefined;
      let release = (): void => undefined;
      const writer = createWriter({
        database,
        log: createLogger({ service: 'writer-test', level: 'silent' }),
        batchLines: 10,
        flushMs: 1,
        maxPending: 1_000_000,
        maxWaitMs: 100,
        concurrency: 1,
        afterLines: () => hold?.() ?? Promise.resolve(),
      });
      try {
        assert.equal(writer.limit, 1_000_000, 'no rate measured yet: the line limit alone');
        let i = 0;
        for (; i < 200; i++) writer.add(line(sourceId, i));
        await writer.flush();
        assert.ok(writer.rate > 0, 'the write rate is measured');
        const limit = writer.limit;
        // What the measured rate stores in 100 ms, but never fewer than two batches per one in flight.
        assert.equal(limit, Math.max(20, Math.round(writer.rate / 10)));
        assert.ok(limit < 1_000_000, `the limit follows the rate (${limit} lines at ${writer.rate} lines/s)`);

        // The next batch's transaction is held: nothing commits, so the limit stays while the queue fills.
        let reached!: () => void;
        const atHold = new Promise<void>((resolve) => (reached = resolve));
        const latch = new Promise<void>((resolve) => (release = resolve));
        hold = async () => {
          hold = undefined;
          reached();
          await latch;
        };
        writer.add(line(sourceId, i++));
        await atHold;
        assert.equal(writer.isFull, false);
        while (!writer.isFull && i < 2_000_000) writer.add(line(sourceId, i++));
        assert.equal(writer.pending, limit, 'full exactly at the limit, far below maxPending');
        let drained: { pending: number; limit: number } | undefined;
        writer.onDrain(() => (drained = { pending: writer.pending, limit: writer.limit }));
        release();
        await writer.flush();
        assert.ok(drained, 'the paused senders were told to resume');
        assert.ok(
          drained.pending <= drained.limit / 2,
          `resumed at half the limit (${JSON.stringify(drained)})`,
        );
        assert.equal(writer.isFull, false);
        const rows = await stored(sourceId);
        assert.equal(rows.length, i, 'every line stored once');
        assert.deepEqual(
          rows.map((r) => r[1]),
          Array.from({ length: i }, (_, n) => `line ${n}`),
        );
      } finally {
        release();
        await writer.stop();
      }
    });
  });
});

/**
 * A TCP proxy to PostgreSQL that can lose one COMMIT's answer: once armed, the first simple query
 * ending in `commit` is forwarded, PostgreSQL's answer is read up to its ReadyForQuery (so the commit
 * has happened) and withheld, and the client's connection is cut.
 */
async function commitCuttingProxy(target: URL) {
  let armed = false;
  let cuts = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client).add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth).on('close', closeBoth);
    upstream.on('error', closeBoth).on('close', closeBoth);
    // Client to server: typed messages after the untyped startup message.
    let fromClient = Buffer.alloc(0);
    let started = false;
    let cutting = false;
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        const header = started ? 5 : 4;
        if (fromClient.length < header) break;
        const length = started ? fromClient.readInt32BE(1) + 1 : fromClient.readInt32BE(0);
        if (fromClient.length < length) break;
        const message = fromClient.subarray(0, length);
        fromClient = fromClient.subarray(length);
        if (started && armed && !cutting && message[0] === 0x51) {
          const text = message.toString('utf8', 5, length - 1).trimEnd();
          if (/commit$/i.test(text)) {
            armed = false;
            cutting = true;
          }
        }
        started = true;
        upstream.write(message);
      }
    });
    // Server to client: forwarded as is, until a cut is under way; then read to ReadyForQuery.
    let fromServer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      fromServer = Buffer.concat([fromServer, chunk]);
      while (fromServer.length >= 5) {
        const length = fromServer.readInt32BE(1) + 1;
        if (fromServer.length < length) break;
        const type = fromServer[0];
        fromServer = fromServer.subarray(length);
        if (type === 0x5a) {
          cuts++;
          closeBoth();
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    arm() {
      armed = true;
    },
    get cuts() {
      return cuts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
