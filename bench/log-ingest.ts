/**
 * Log ingest (issue 16): lines/s parsed and stored by the log-listener, and its live-tail latency,
 * side by side in the same run with rsyslog's own PostgreSQL output (Debian's rsyslogd, imptcp +
 * ompgsql) writing the same lines into the same PostgreSQL.
 *
 *   node bench/log-ingest.ts [--lines 300000] [--connections 4] [--rate 0] [--skip-rsyslog]
 *                            [--rsyslog-timeout 120] [--in-process] [--cpu-prof DIR] [--batch-lines N]
 *                            [--queue-wait-ms MS]
 *
 * The same generator process sends the same pre-built RFC 5424 lines (LF-framed, ~150 bytes) over
 * `--connections` TCP connections to each: first to a registered source of the log-listener, then to
 * rsyslogd. The log-listener runs as deployed, as its own process (`services/log-listener/src/server.ts`,
 * its own schema); this process holds the WAMP router (Crossbar's part in a deployment) and the tail's
 * subscriber (a browser's). `--in-process` runs the listener in this process instead (what the bench
 * measured before 2026-12-02 18:00). Each is timed from the generator's first byte (it builds its lines
 * first; before 2026-12-02 22:00 its start-up and building were timed too) until PostgreSQL holds
 * every line (the listener's committed counter; rsyslog's row count). Tail latency: for every line the
 * owner's WAMP subscriber receives, now − the line's `receivedAt` (the listener's arrival stamp);
 * p50/p99 printed. At full speed (`--rate 0`) senders outpace storage, so that figure is the
 * backlog's wait; `--rate N` paces the senders at N lines/s in all (10 ms steps) to measure the tail
 * below capacity. CPU-seconds (user + system, from /proc) per line are printed for each process: the
 * listener, this process (router and subscriber) and the listener's PostgreSQL backends; on a shared
 * machine they mean more than wall time. Prints the load average too.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { availableParallelism, cpus, loadavg } from 'node:os';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { sql } from '../libs/db/src/index.ts';
import type { LogRealtimeEvent } from '../libs/contracts/src/index.ts';
import { connectWampClient } from '../libs/testing/src/index.ts';
import { secret, startHarness, tokenOf } from '../services/log-listener/test/support/harness.ts';
import { startRsyslog } from '../services/log-listener/test/support/rsyslog.ts';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    connections: { type: 'string', default: '4' },
    rate: { type: 'string', default: '0' },
    'skip-rsyslog': { type: 'boolean', default: false },
    'rsyslog-timeout': { type: 'string', default: '120' },
    'in-process': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'batch-lines': { type: 'string' },
    'queue-wait-ms': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: node bench/log-ingest.ts [--lines N] [--connections C] [--rate LINES_PER_S] [--skip-rsyslog]\n' +
      '                                [--rsyslog-timeout SECONDS] [--in-process] [--cpu-prof DIR]\n' +
      '                                [--batch-lines N] [--queue-wait-ms MS]\n' +
      'Ingest lines/s, CPU-seconds per line (the log-listener process, this process with the WAMP router and\n' +
      "the tail subscriber, the listener's PostgreSQL backends) and live-tail latency (p50/p99 from receipt\n" +
      'to the subscriber) of the log-listener vs rsyslog ompgsql, same lines, same PostgreSQL.\n' +
      '  --lines N            lines sent to each (default 300000)\n' +
      '  --connections C      TCP connections the lines are spread over (default 4)\n' +
      '  --rate N             0 (default): senders at full speed (the tail figure is the backlog);\n' +
      '                       N: senders paced at N lines/s in all\n' +
      '  --skip-rsyslog       the log-listener only\n' +
      "  --rsyslog-timeout S  give up waiting for rsyslog's rows after S seconds (default 120)\n" +
      '  --in-process         the listener in this process (with the router and subscriber) instead of\n' +
      '                       its own process (src/server.ts, as deployed)\n' +
      '  --cpu-prof DIR       run the listener process under node --cpu-prof, profile written to DIR\n' +
      "  --batch-lines N      the listener's LOGS_BATCH_LINES (default: the service's own default)\n" +
      "  --queue-wait-ms MS   the listener's LOGS_MAX_QUEUE_WAIT_MS (0: the line limit alone; default: the\n" +
      "                       service's own default)\n",
  );
  process.exit(0);
}
const lines = Number(values.lines);
const connections = Number(values.connections);
const rsyslogTimeoutMs = Number(values['rsyslog-timeout']) * 1000;
const rate = Number(values.rate);
/** The listener's batch size and queue wait when asked for (the service's defaults otherwise). */
const tuning: Record<string, string> = {
  ...(values['batch-lines'] ? { LOGS_BATCH_LINES: values['batch-lines'] } : {}),
  ...(values['queue-wait-ms'] ? { LOGS_MAX_QUEUE_WAIT_MS: values['queue-wait-ms'] } : {}),
};

/**
 * The generator: a child process, so it does not share the listener's event loop. It builds every
 * line first, says `sending` on stdout, then connects and sends: the receivers are timed from that
 * word (the generator's own start-up and line building are not theirs to pay for).
 */
const generator = `
const net = require('node:net');
const [port, lines, connections, rate] = process.argv.slice(1).map(Number);
const per = Math.ceil(lines / connections);
let done = 0;
const all = [];
for (let c = 0; c < connections; c++) {
  const count = Math.min(per, lines - c * per);
  const parts = [];
  for (let i = 0; i < count; i++) {
    parts.push('<134>1 2026-12-02T03:04:05.678Z bench-host-' + c + ' app.log 4242 - - GET /api/rooms/' + (i % 977) +
      '/messages?limit=50 200 1834 "Mozilla/5.0 (X11; Linux x86_64)" conn=' + c + ' line=' + i + '\\n');
  }
  all.push({ count, parts, whole: rate === 0 ? Buffer.from(parts.join('')) : undefined });
}
process.stdout.write('sending\\n');
for (const { count, parts, whole } of all) {
  const socket = net.connect({ host: '127.0.0.1', port }, () => {
    if (whole) return socket.end(whole);
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

/** The local TCP ports of a process's sockets (from /proc: its fds' socket inodes, in net/tcp{,6}). */
function socketPorts(pid: number): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1));
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['tcp', 'tcp6']) {
    for (const row of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * The log-listener as deployed: its own process (`src/server.ts`) on the harness's schema, router and
 * port range, with the bench's batch settings; resolves once it listens on `port`.
 */
async function spawnListener(
  config: Record<string, string | number | boolean | undefined>,
  schema: string,
  port: number,
): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(config)) if (value !== undefined) env[name] = String(value);
  Object.assign(env, {
    NODE_ENV: 'production',
    LOGS_DB_SCHEMA: schema,
    VECHE_SERVICE_SECRET: secret,
    PORT: '0',
    LOG_LEVEL: 'error',
    LOG_PRETTY: 'false',
  });
  const profile = values['cpu-prof'];
  const child = spawn(
    process.execPath,
    [
      ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
      path.join(import.meta.dirname, '../services/log-listener/src/server.ts'),
    ],
    { env, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 60_000, () => child.exitCode !== null, 'the log-listener process did not start');
  return {
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Waits until 127.0.0.1:`port` accepts a connection; throws `failure` after `timeoutMs` or once `gone()`. */
async function waitForPort(
  port: number,
  timeoutMs: number,
  gone: () => boolean,
  failure: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (open) return;
    if (gone() || Date.now() > deadline) throw new Error(failure);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the generator: `sending` resolves with the time it starts to send, `done` when it is through. */
function runGenerator(port: number): { sending: Promise<number>; done: Promise<void> } {
  const child = spawn(
    process.execPath,
    ['-e', generator, String(port), String(lines), String(connections), String(rate)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const sending = new Promise<number>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('sending\n')) resolve(Date.now());
      else if (seen.length > 1_000) reject(new Error(`generator said ${JSON.stringify(seen)}`));
    });
    child.once('exit', () => reject(new Error('the generator exited before sending')));
  });
  const done = new Promise<void>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`generator exited ${code}`)))),
  );
  return { sending, done };
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
  overrides: { ...tuning, LOGS_FLUSH_MS: '50' },
});
const db = h.database.db;
try {
  const pg = await sql<{ fsync: string; synchronous_commit: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`.execute(
    db,
  );
  process.stdout.write(
    `log ingest: ${lines.toLocaleString('en')} lines over ${connections} connections; PostgreSQL fsync=${pg.rows[0]?.fsync} ` +
      `synchronous_commit=${pg.rows[0]?.synchronous_commit}; ${availableParallelism()} CPUs (${cpus()[0]?.model ?? '?'}), ` +
      `load average at start ${loadavg()[0]!.toFixed(1)}\n`,
  );

  // 1. The log-listener.
  const source = await h.createSource('bench', { name: 'bench' });
  const inProcess = values['in-process'];
  let listener: Awaited<ReturnType<typeof spawnListener>> | undefined;
  if (!inProcess) {
    // The in-process app steps aside (after registering the source): the process is the only listener.
    await h.app.stop();
    listener = await spawnListener(
      { ...h.config, ...tuning, LOGS_FLUSH_MS: '50' },
      h.database.schema,
      source.port,
    );
  }
  try {
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
    // The listener's PostgreSQL backends: the harness's (by application name) in-process; the
    // process's own connections (by their client ports) otherwise.
    const backends = async (): Promise<number[]> => {
      if (!listener) {
        return (
          await sql<{ pid: number }>`
            select pid from pg_stat_activity where application_name = ${`test:${h.database.schema}`}`.execute(
            db,
          )
        ).rows.map((r) => r.pid);
      }
      const ports = [...socketPorts(listener.child.pid!)];
      return (
        await sql<{ pid: number }>`
          select pid from pg_stat_activity where client_port = any(${ports}::int[])
            and client_addr is not null`.execute(db)
      ).rows.map((r) => r.pid);
    };
    const listenerPid = listener?.child.pid ?? 'self';
    const pgBefore = new Map((await backends()).map((pid) => [pid, processCpu(pid)]));
    const listenerBefore = processCpu(listenerPid);
    const ownBefore = processCpu('self');
    const generated = runGenerator(source.port);
    const start = await generated.sending;
    const ours = await waitFor(counted, 600_000);
    await generated.done;
    const oursSeconds = (ours.at - start) / 1000;
    const listenerCpu = processCpu(listenerPid) - listenerBefore;
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
    const perLine = (cpu: number) => `${cpu.toFixed(2)} s = ${((cpu / ours.count) * 1e6).toFixed(1)} µs/line`;
    process.stdout.write(
      `log-listener:      ${ours.count.toLocaleString('en')} lines stored (${stored.rows[0]?.n} rows) in ${oursSeconds.toFixed(2)} s = ` +
        `${oursRate.toLocaleString('en')} lines/s; live tail ${latencies.length.toLocaleString('en')} lines, ` +
        `p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms` +
        `${rate > 0 ? ` (senders paced at ${rate.toLocaleString('en')} lines/s)` : ' (senders at full speed: the backlog)'}; ` +
        `load average ${loadavg()[0]!.toFixed(1)}\n` +
        (listener
          ? `  CPU: log-listener process ${perLine(listenerCpu)}; this process (WAMP router, tail subscriber) ` +
            `${perLine(ownCpu)}; the listener's PostgreSQL backends ${perLine(pgCpu)}\n`
          : `  CPU: this process (listener, writer, WAMP router, subscriber) ${perLine(ownCpu)}; ` +
            `its PostgreSQL backends ${perLine(pgCpu)}\n`),
    );

    // 2. rsyslog: imptcp → ompgsql, the same lines into a table of the same schema.
    if (!values['skip-rsyslog']) await compareRsyslog(oursRate);
  } finally {
    await listener?.stop();
  }
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
    await waitForPort(port, 10_000, () => false, `rsyslogd did not listen:\n${rsyslog.output()}`);
    const rows = () =>
      sql<{ n: number }>`select count(*)::int as n from rsyslog_lines`
        .execute(db)
        .then((r) => r.rows[0]?.n ?? 0);
    const generated = runGenerator(port);
    const rStart = await generated.sending;
    await generated.done;
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
