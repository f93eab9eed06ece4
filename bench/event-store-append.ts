/**
 * Append throughput of @veche/event-store side by side with Emmett (@event-driven-io/emmett-postgresql,
 * the best-known TypeScript event store on PostgreSQL), against the same PostgreSQL server with its own
 * durability settings, in one invocation. Each case runs Emmett, then Veche, then Emmett again (the
 * machine drifts; the ratio is Veche over the mean of the two Emmett runs). Veche uses its own schema in
 * TEST_DATABASE_URL's database; Emmett, which keeps its tables in `public`, a database of its own. Both
 * are dropped at the end. Pools: 10 connections each (node-postgres' default, which Emmett uses).
 *
 * With --rounds N each case alternates Emmett and Veche N times (E V E V … E) and prints the median of
 * the per-round ratios (each Veche run over the mean of the Emmett runs either side): on a shared,
 * loaded machine one round's ratio swings by tens of percent, the median much less.
 *
 * Usage: node bench/event-store-append.ts [--seconds 5] [--rounds 1] [--case batched] [--veche-only]
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { createDatabase, ensureDatabaseExists, migrate, sql } from '@veche/db';
import { createLogger } from '@veche/log';
import pg from 'pg';
import { createEventStore, eventStoreMigrations } from '../libs/event-store/src/index.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'veche-only': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
    case: { type: 'string', multiple: true },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: node bench/event-store-append.ts [--seconds 5 per run] [--rounds 1] [--case NAME]… [--veche-only]\n' +
      '  Appends with @veche/event-store and with Emmett (emmett-postgresql) to the same PostgreSQL:\n' +
      '  one writer, 32 writers, single events and appends of 100; prints events/s and Veche/Emmett.\n' +
      '  --rounds N: alternate Emmett and Veche N times per case (E V E … V E), print the median ratio.\n' +
      '  --case: only the named cases (single, concurrent, batched, concurrent-batched); repeatable.\n' +
      '  TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/veche_test)\n',
  );
  process.exit(0);
}
const seconds = Number(values.seconds);
const url = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test';
const suffix = randomBytes(4).toString('hex');
const schema = `bench_es_${suffix}`;
const emmettDatabase = `bench_emmett_${suffix}`;
const emmettUrl = (() => {
  const u = new URL(url);
  u.pathname = `/${emmettDatabase}`;
  return u.toString();
})();

type Payload = { type: string; data: Record<string, unknown> };

const payload = (n: number): Payload => ({
  type: 'chat.message_posted',
  data: { roomId: 'room-1', seq: n, senderId: 'user-1', text: `message number ${n} with a little text` },
});

/** Appends `events` to `streamId` expecting it at `expectedVersion`; resolves with the next version. */
type Append = (streamId: string, events: Payload[], expectedVersion: number) => Promise<number>;

/** CPU-seconds (user + system) a process has used, from /proc; 0 when it is gone or unreadable. */
function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Which PostgreSQL backends serve a side: Veche's by application name, Emmett's by database. */
type Backends = { applicationName: string } | { database: string };

async function backendCpu(admin: pg.Client, backends: Backends): Promise<Map<number, number>> {
  const { rows } =
    'applicationName' in backends
      ? await admin.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = $1`, [
          backends.applicationName,
        ])
      : await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1`, [
          backends.database,
        ]);
  return new Map(rows.map((row) => [row.pid, processCpu(row.pid)]));
}

interface Run {
  rate: number;
  /** CPU-seconds per 1,000 events: this process plus the side's PostgreSQL backends. */
  cpuPerKilo: number;
  /** The same, PostgreSQL backends' part only. */
  serverPerKilo: number;
}

/** `writers` loops, each appending `eventsPerAppend` events to its own stream with an exact expected version. */
async function measure(
  append: Append,
  backends: Backends,
  writers: number,
  eventsPerAppend: number,
): Promise<Run> {
  const deadline = Date.now() + seconds * 1000;
  let events = 0;
  const serverBefore = await backendCpu(admin, backends);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const run = randomBytes(3).toString('hex');
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const streamId = `bench-${run}-${w}`;
      let version = 0;
      while (Date.now() < deadline) {
        const batch = Array.from({ length: eventsPerAppend }, (_, i) => payload(version + i));
        version = await append(streamId, batch, version);
        events += eventsPerAppend;
      }
    }),
  );
  const rate = events / ((performance.now() - started) / 1000);
  const client = process.cpuUsage(clientBefore);
  let server = 0;
  for (const [pid, after] of await backendCpu(admin, backends))
    server += after - (serverBefore.get(pid) ?? 0);
  const cpu = (client.user + client.system) / 1e6 + server;
  return { rate, cpuPerKilo: (cpu / events) * 1000, serverPerKilo: (server / events) * 1000 };
}

const allCases = [
  { name: 'single', label: 'one writer, single events', writers: 1, size: 1, target: 1.0 },
  {
    name: 'concurrent',
    label: '32 concurrent writers, single events',
    writers: 32,
    size: 1,
    target: undefined,
  },
  { name: 'batched', label: 'one writer, appends of 100 events', writers: 1, size: 100, target: 1.5 },
  {
    name: 'concurrent-batched',
    label: '32 concurrent writers, appends of 100 events',
    writers: 32,
    size: 100,
    target: undefined,
  },
] as const;
const chosen = values.case;
const cases = chosen ? allCases.filter((c) => chosen.includes(c.name)) : allCases;
if (cases.length === 0) {
  process.stderr.write(`--case: one of ${allCases.map((c) => c.name).join(', ')}\n`);
  process.exit(2);
}
const rounds = Math.max(1, Number(values.rounds));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

await ensureDatabaseExists(url);
const admin = new pg.Client({ connectionString: url });
await admin.connect();
// The application name is this run's own: Veche's backends are found by it, and a second run of this
// bench on the same server must not count as ours.
const applicationName = `bench:event-store:${suffix}`;
const database = createDatabase({ url, schema, poolSize: 10, applicationName });
const emmett = values['veche-only'] ? undefined : getPostgreSQLEventStore(emmettUrl);
let failed = false;
try {
  if (emmett) await admin.query(`create database "${emmettDatabase}"`);
  await migrate(database, eventStoreMigrations);
  const { rows } = await sql<{ fsync: string; synchronous_commit: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`.execute(
    database.db,
  );
  process.stdout.write(
    `PostgreSQL fsync=${rows[0]?.fsync} synchronous_commit=${rows[0]?.synchronous_commit}; ${seconds} s per run; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}\n`,
  );
  const store = createEventStore({ database, log: createLogger({ service: 'bench', level: 'warn' }) });
  const veche: Append = async (streamId, events, expectedVersion) =>
    (await store.append(streamId, events, { expectedVersion })).nextVersion;
  const emmettAppend: Append | undefined = emmett
    ? async (streamId, events, expectedVersion) => {
        const result = await emmett.appendToStream(streamId, events, {
          expectedStreamVersion: BigInt(expectedVersion),
        });
        return Number(result.nextExpectedStreamVersion);
      }
    : undefined;
  // Emmett creates its schema on first use: do it before timing anything.
  if (emmettAppend) await emmettAppend(`warm-up-${suffix}`, [payload(0)], 0);
  await veche(`warm-up-${suffix}`, [payload(0)], 0);

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(7);
  process.stdout.write(
    `${'case'.padEnd(46)} ${emmettAppend ? 'Emmett  ' : ''}  Veche ${emmettAppend ? '   Emmett   Veche/Emmett' : ''}\n`,
  );
  const vecheSide = { applicationName };
  const emmettSide = { database: emmettDatabase };
  for (const c of cases) {
    if (!emmettAppend) {
      const ours: Run[] = [];
      for (let r = 0; r < rounds; r += 1) ours.push(await measure(veche, vecheSide, c.writers, c.size));
      process.stdout.write(
        `${c.label.padEnd(46)} ${ours.map((o) => fmt(o.rate)).join(' ')} events/s; CPU-s per 1,000 events ${ours.map((o) => o.cpuPerKilo.toFixed(3)).join(' ')}\n`,
      );
      continue;
    }
    // E V E V … V E: each Veche run is compared with the mean of the Emmett runs either side.
    const theirs = [await measure(emmettAppend, emmettSide, c.writers, c.size)];
    const ours: Run[] = [];
    for (let r = 0; r < rounds; r += 1) {
      ours.push(await measure(veche, vecheSide, c.writers, c.size));
      theirs.push(await measure(emmettAppend, emmettSide, c.writers, c.size));
    }
    const cpuText = (run: Run) => `${run.cpuPerKilo.toFixed(3)} (${run.serverPerKilo.toFixed(3)})`;
    const around = (r: number, key: keyof Run) => (theirs[r]![key] + theirs[r + 1]![key]) / 2;
    const ratios = ours.map((o, r) => o.rate / around(r, 'rate'));
    const cpuRatios = ours.map((o, r) => around(r, 'cpuPerKilo') / o.cpuPerKilo);
    const ratio = median(ratios);
    const verdict =
      c.target === undefined
        ? ''
        : ratio >= c.target
          ? `  (≥ ${c.target}: MET)`
          : `  (≥ ${c.target}: NOT MET)`;
    if (c.target !== undefined && ratio < c.target) failed = true;
    const cpuLine =
      `${''.padEnd(46)} CPU-s per 1,000 events (all = bench process + its backends, of which backends): Emmett ` +
      `${theirs.map(cpuText).join(' ')}; Veche ${ours.map(cpuText).join(' ')}; ` +
      `Emmett/Veche median ${median(cpuRatios).toFixed(2)}×\n`;
    if (rounds === 1) {
      process.stdout.write(
        `${c.label.padEnd(46)} ${fmt(theirs[0]!.rate)}  ${fmt(ours[0]!.rate)}  ${fmt(theirs[1]!.rate)}   ${ratio.toFixed(2)}×${verdict}\n` +
          cpuLine,
      );
    } else {
      process.stdout.write(
        `${c.label.padEnd(46)} Emmett ${theirs.map((t) => fmt(t.rate)).join(' ')}; Veche ${ours.map((o) => fmt(o.rate)).join(' ')};\n` +
          `${''.padEnd(46)} ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}; median ${ratio.toFixed(2)}×${verdict}\n` +
          cpuLine,
      );
    }
  }
  process.stdout.write(`events/s; load average at the end ${loadavg()[0]!.toFixed(1)}\n`);
  await store.close();
} finally {
  await emmett?.close();
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(database.db);
  await database.close();
  if (emmett) await admin.query(`drop database if exists "${emmettDatabase}" with (force)`);
  await admin.end();
}
process.exit(failed ? 1 : 0);
