/**
 * Log ingest (issue 16): lines/s parsed and stored by the log-listener, and its live-tail latency,
 * side by side in the same run with rsyslog's own PostgreSQL output (Debian's rsyslogd, imptcp +
 * ompgsql) writing the same lines into the same PostgreSQL.
 *
 *   node bench/log-ingest.ts [--lines 300000] [--connections 4] [--rate 0] [--skip-rsyslog]
 *                            [--rsyslog-timeout 120]
 *
 * The same generator process sends the same pre-built RFC 5424 lines (LF-framed, ~150 bytes) over
 * `--connections` TCP connections to each: first to a registered source of the log-listener
 * (in-process, its own schema, the real WAMP router, in this process too), then to rsyslogd. Each is
 * timed from the generator's start until PostgreSQL holds every line (the listener's committed
 * counter; rsyslog's row count). Tail latency: for every line the owner's WAMP subscriber (in this
 * process) receives, now − the line's `receivedAt` (the listener's arrival stamp); p50/p99 printed.
 * At full speed (`--rate 0`) senders outpace storage, so that figure is the backlog's wait; `--rate N`
 * paces the senders at N lines/s in all (10 ms steps) to measure the tail below capacity. CPU-seconds
 * (user + system, from /proc) of this process and of the schema's PostgreSQL backends are printed
 * per line: on a shared machine they mean more than wall time. Prints the load average too.
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { sql } from '../libs/db/src/index.ts';
import type { LogRealtimeEvent } from '../libs/contracts/src/index.ts';
import { connectWampClient } from '../libs/testing/src/index.ts';
import { startHarness, tokenOf } from '../services/log-listener/test/support/harness.ts';
import { startRsyslog } from '../services/log-listener/test/support/rsyslog.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    connections: { type: 'string', default: '4' },
    rate: { type: 'string', default: '0' },
    'skip-rsyslog': { type: 'boolean', default: false },
    'rsyslog-timeout': { type: 'string', default: '120' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: node bench/log-ingest.ts [--lines N] [--connections C] [--rate LINES_PER_S] [--skip-rsyslog]\n' +
      '                                [--rsyslog-timeout SECONDS]\n' +
      'Ingest lines/s, CPU-seconds per line (this process, its PostgreSQL backends) and live-tail latency\n' +
      '(p50/p99 from receipt to the subscriber) of the log-listener vs rsyslog ompgsql, same lines, same\n' +
      'PostgreSQL. --rate 0 (default): senders at full speed (the tail figure is the backlog); --rate N:\n' +
      'senders paced at N lines/s in all.\n',
  );
  process.exit(0);
}
const lines = Number(values.lines);
const connections = Number(values.connections);
const rsyslogTimeoutMs = Number(values['rsyslog-timeout']) * 1000;
const rate = Number(values.rate);

/** The generator: a child process, so it does not share the listener's event loop. */
const generator = `
const net = require('node:net');
const [port, lines, connections, rate] = process.argv.slice(1).map(Number);
const per = Math.ceil(lines / connections);
let done = 0;
for (let c = 0; c < connections; c++) {
  const count = Math.min(per, lines - c * per);
  const parts = [];
  for (let i = 0; i < count; i++) {
    parts.push('<134>1 2026-12-02T03:04:05.678Z bench-host-' + c + ' app.log 4242 - - GET /api/rooms/' + (i % 977) +
      '/messages?limit=50 200 1834 "Mozilla/5.0 (X11; Linux x86_64)" conn=' + c + ' line=' + i + '\\n');
  }
  const socket = net.connect({ host: '127.0.0.1', port }, () => {
    if (rate === 0) return socket.end(Buffer.from(parts.join('')));
    // Paced: this connection's share of the rate, every 10 ms, against the clock (no drift).
    const started = Date.now();
    let sent = 0;
    const step = () => {
      const due = Math.min(count, Math.floor(((Date.now() - started) / 1000) * (rate / connections)));
      if (due > sent) socket.write(parts.slice(sent, due).join(''));
      sent = Math.max(sent, due);
      if (sent >= count) socket.end();
      else setTimeout(step, 10);
    };
    step();
  });
  socket.on('close', () => { if (++done === connections) process.exit(0); });
  socket.on('error', (e) => { console.error(e.message); process.exit(1); });
}`;

/** CPU-seconds (user + system) a process has used, from /proc; 0 when it is gone. */
function processCpu(pid: number | 'self'): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function runGenerator(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-e', generator, String(port), String(lines), String(connections), String(rate)],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`generator exited ${code}`))));
  });
}

async function waitFor(
  check: () => Promise<number>,
  timeoutMs: number,
): Promise<{ count: number; at: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = await check();
    if (count >= lines || Date.now() > deadline) return { count, at: Date.now() };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const h = await startHarness('log-ingest-bench', {
  overrides: { LOGS_BATCH_LINES: '5000', LOGS_FLUSH_MS: '50' },
});
const db = h.database.db;
try {
  const pg = await sql<{ fsync: string; synchronous_commit: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`.execute(
    db,
  );
  process.stdout.write(
    `log ingest: ${lines.toLocaleString('en')} lines over ${connections} connections; PostgreSQL fsync=${pg.rows[0]?.fsync} ` +
      `synchronous_commit=${pg.rows[0]?.synchronous_commit}; load average at start ${loadavg()[0]!.toFixed(1)}\n`,
  );

  // 1. The log-listener.
  const source = await h.createSource('bench', { name: 'bench' });
  const client = await connectWampClient(h.router.url, 'bench', tokenOf('bench'));
  const latencies: number[] = [];
  await client.session.subscribe('veche.user.bench.logs', (_args, kwargs) => {
    const event = kwargs as LogRealtimeEvent;
    if (event.type !== 'lines') return;
    const now = Date.now();
    for (const line of event.events) latencies.push(now - Date.parse(line.receivedAt));
  });
  const counted = () =>
    sql<{ received: number }>`select received from source_counters where source_id = ${source.sourceId}`
      .execute(db)
      .then((r) => Number(r.rows[0]?.received ?? 0));
  const backends = async (): Promise<number[]> =>
    (
      await sql<{ pid: number }>`
        select pid from pg_stat_activity where application_name = ${`test:${h.database.schema}`}`.execute(db)
    ).rows.map((r) => r.pid);
  const pgBefore = new Map((await backends()).map((pid) => [pid, processCpu(pid)]));
  const ownBefore = processCpu('self');
  const start = Date.now();
  const sent = runGenerator(source.port);
  const ours = await waitFor(counted, 600_000);
  await sent;
  const oursSeconds = (ours.at - start) / 1000;
  const ownCpu = processCpu('self') - ownBefore;
  let pgCpu = 0;
  for (const pid of await backends()) pgCpu += processCpu(pid) - (pgBefore.get(pid) ?? 0);
  const stored = await sql<{
    n: number;
  }>`select count(*)::int as n from log_lines where source_id = ${source.sourceId}`.execute(db);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  client.close();
  latencies.sort((a, b) => a - b);
  const oursRate = Math.round(ours.count / oursSeconds);
  process.stdout.write(
    `log-listener:      ${ours.count.toLocaleString('en')} lines stored (${stored.rows[0]?.n} rows) in ${oursSeconds.toFixed(2)} s = ` +
      `${oursRate.toLocaleString('en')} lines/s; live tail ${latencies.length.toLocaleString('en')} lines, ` +
      `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms` +
      `${rate > 0 ? ` (senders paced at ${rate.toLocaleString('en')} lines/s)` : ' (senders at full speed: the backlog)'}; ` +
      `load average ${loadavg()[0]!.toFixed(1)}\n` +
      `  CPU: this process (listener, writer, WAMP router, subscriber) ${ownCpu.toFixed(2)} s = ` +
      `${((ownCpu / ours.count) * 1e6).toFixed(1)} µs/line; its PostgreSQL backends ${pgCpu.toFixed(2)} s = ` +
      `${((pgCpu / ours.count) * 1e6).toFixed(1)} µs/line\n`,
  );

  // 2. rsyslog: imptcp → ompgsql, the same lines into a table of the same schema.
  if (!values['skip-rsyslog']) await compareRsyslog(oursRate);
} finally {
  await h.close();
}

async function compareRsyslog(oursRate: number): Promise<void> {
  const schema = h.database.schema;
  await sql`create table rsyslog_lines (id bigserial primary key, reported_at timestamptz, host text, tag text, message text)`.execute(
    db,
  );
  const port = await freePort();
  const url = new URL(process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/veche_test');
  const rsyslog = startRsyslog(`module(load="imptcp")
module(load="ompgsql")
template(name="veche_sql" type="string" option.sql="on"
  string="insert into ${schema}.rsyslog_lines (reported_at, host, tag, message) values ('%timereported:::date-pgsql%', '%hostname%', '%syslogtag%', '%msg%')")
input(type="imptcp" address="127.0.0.1" port="${port}" ruleset="pg")
ruleset(name="pg" queue.type="LinkedList" queue.size="500000" queue.dequeueBatchSize="5000") {
  action(type="ompgsql" server="${url.hostname}" port="${url.port || 5432}" db="${url.pathname.slice(1)}"
         uid="${decodeURIComponent(url.username) || 'postgres'}" pwd="${decodeURIComponent(url.password)}" template="veche_sql"
         queue.type="LinkedList" queue.size="500000" queue.dequeueBatchSize="5000")
}`);
  try {
    for (let i = 0; i < 100; i++) {
      const open = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (open) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const rows = () =>
      sql<{ n: number }>`select count(*)::int as n from rsyslog_lines`
        .execute(db)
        .then((r) => r.rows[0]?.n ?? 0);
    const rStart = Date.now();
    await runGenerator(port);
    const theirs = await waitFor(rows, rsyslogTimeoutMs);
    const theirSeconds = (theirs.at - rStart) / 1000;
    const theirRate = Math.round(theirs.count / theirSeconds);
    process.stdout.write(
      `rsyslog ompgsql:   ${theirs.count.toLocaleString('en')} lines stored in ${theirSeconds.toFixed(2)} s = ` +
        `${theirRate.toLocaleString('en')} lines/s${theirs.count < lines ? ` (timed out at ${values['rsyslog-timeout']} s)` : ''}; ` +
        `load average ${loadavg()[0]!.toFixed(1)}\n`,
    );
    const sample = await sql<{ message: string }>`select message from rsyslog_lines limit 1`.execute(db);
    process.stdout.write(`  (rsyslog stored e.g. ${JSON.stringify(sample.rows[0]?.message ?? '')})\n`);
    process.stdout.write(`log-listener / rsyslog ompgsql: ${(oursRate / theirRate).toFixed(1)}×\n`);
    if (theirs.count === 0) process.stdout.write(`rsyslog output:\n${rsyslog.output()}\n`);
  } finally {
    await rsyslog.stop();
  }
}
