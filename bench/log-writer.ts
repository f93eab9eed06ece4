/**
 * The log-listener's write path alone (issue 16): `--lines` records handed to its writer (batches of
 * LOGS_BATCH_LINES, COPY into the day's partition, counters in the same transaction), timed until all
 * are committed, with the CPU-seconds of this process and of its PostgreSQL backends, the figure that
 * survives a loaded machine. With `--trigram`, the same again after a pg_trgm GIN index on the
 * message (what indexing ILIKE '%…%' search would cost every line at ingest).
 *
 *   node bench/log-writer.ts [--lines 100000] [--batch 5000] [--trigram]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { migrate, sql } from '../libs/db/src/index.ts';
import { createLogger } from '../libs/log/src/index.ts';
import { createTestDatabase } from '../libs/testing/src/index.ts';
import { logsMigrations } from '../services/log-listener/migrations/index.ts';
import { createWriter, type LineRecord } from '../services/log-listener/src/ingest/writer.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '5000' },
    trigram: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: node bench/log-writer.ts [--lines 100000] [--batch 5000] [--trigram]\n' +
      "  The log-listener's writer alone: lines/s and CPU-seconds (this process, its PostgreSQL backends)\n" +
      '  per run; --trigram adds a run with a pg_trgm GIN index on the message. Own schema in\n' +
      '  TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/veche_test), dropped at the end.\n',
  );
  process.exit(0);
}
const lines = Number(values.lines);

function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

const database = await createTestDatabase({ name: 'bench-log-writer', poolSize: 4 });
const backends = async (): Promise<number[]> =>
  (
    await sql<{ pid: number }>`
      select pid from pg_stat_activity where application_name = ${`test:${database.schema}`}`.execute(
      database.db,
    )
  ).rows.map((r) => r.pid);
try {
  await migrate(database, logsMigrations);
  const sourceId = randomUUID();
  await sql`insert into source_counters (source_id) values (${sourceId})`.execute(database.db);
  const now = Date.now();
  const records: LineRecord[] = Array.from({ length: lines }, (_, i) => ({
    sourceId,
    ownerId: 'bench',
    userId: '127.0.0.1:6514',
    receivedAt: now,
    createdAt: now,
    senderIp: '127.0.0.1',
    fileName: 'app.log',
    message: `GET /api/rooms/${i % 977}/messages?limit=50 200 1834 "Mozilla/5.0 (X11; Linux x86_64)" conn=0 line=${i}`,
    severity: 6,
    facility: 16,
    hostname: 'bench-host-0',
    appName: 'app.log',
    truncated: false,
    invalidUtf8: false,
  }));
  const runs = values.trigram ? ['COPY', 'COPY + pg_trgm GIN index'] : ['COPY'];
  for (const run of runs) {
    if (run !== 'COPY') {
      // In this schema, so dropping the schema drops it again.
      await sql`create extension if not exists pg_trgm schema ${sql.id(database.schema)}`.execute(
        database.db,
      );
      await sql`create index log_lines_message_trgm on log_lines using gin (message ${sql.id(database.schema)}.gin_trgm_ops)`.execute(
        database.db,
      );
    }
    let published = 0;
    const writer = createWriter({
      database,
      log: createLogger({ service: 'bench', level: 'warn' }),
      batchLines: Number(values.batch),
      flushMs: 50,
      maxPending: lines + 1,
      onCommitted: (_owner, _source, events) => {
        published += events.length;
      },
    });
    await writer.ensurePartitions([Math.floor(now / 86_400_000)]);
    const before = new Map((await backends()).map((pid) => [pid, processCpu(pid)]));
    const load = loadavg()[0]!;
    const client = process.cpuUsage();
    const started = performance.now();
    for (const record of records) writer.add(record);
    await writer.flush();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(client);
    let server = 0;
    for (const pid of await backends()) server += processCpu(pid) - (before.get(pid) ?? 0);
    await writer.stop();
    const node = (used.user + used.system) / 1e6;
    process.stdout.write(
      `${run.padEnd(26)} ${lines.toLocaleString('en')} lines (${published.toLocaleString('en')} published) in ${seconds.toFixed(2)} s = ` +
        `${Math.round(lines / seconds).toLocaleString('en')} lines/s; CPU-s: Node ${node.toFixed(2)}, PostgreSQL backends ${server.toFixed(2)} ` +
        `(${(((node + server) / lines) * 1e6).toFixed(1)} µs a line); load average ${load.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}\n`,
    );
  }
} finally {
  await database.drop();
}
